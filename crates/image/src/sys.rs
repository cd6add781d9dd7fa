//! Small system-call helpers shared by the store, layers and snapshots: file locks, durable
//! renames, and `openat2(RESOLVE_IN_ROOT)`.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A C string from a path or name; an interior NUL is `EINVAL`.
pub fn cstr(p: impl AsRef<std::ffi::OsStr>) -> io::Result<CString> {
    CString::new(p.as_ref().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Turn a libc return value into an io result, retrying is the caller's business.
pub fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// fsync a directory so a rename or create inside it is durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An exclusive or shared `flock` on a lock file. An exclusive lock created with
/// [`LockFile::exclusive_transient`] removes its file when dropped, and waiters retry on the
/// fresh file, so lock files do not pile up.
pub struct LockFile {
    file: File,
    path: PathBuf,
    remove_on_drop: bool,
}

impl LockFile {
    /// Take an exclusive lock, waiting for other holders; the file is removed on drop.
    pub fn exclusive_transient(path: &Path) -> io::Result<LockFile> {
        loop {
            let lock = Self::take(path, libc::LOCK_EX, true)?;
            // The previous holder may have removed the file after we opened it: retry then.
            let ours = lock.file.metadata()?;
            match std::fs::metadata(path) {
                Ok(m) if m.ino() == ours.ino() && m.dev() == ours.dev() => return Ok(lock),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Take a lock on a lock file that stays in place; `exclusive` or shared.
    pub fn persistent(path: &Path, exclusive: bool) -> io::Result<LockFile> {
        let op = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        Self::take(path, op, false)
    }

    fn take(path: &Path, op: libc::c_int, remove_on_drop: bool) -> io::Result<LockFile> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        loop {
            // SAFETY: flock on a descriptor we own; no memory is involved.
            let r = unsafe { libc::flock(file.as_raw_fd(), op) };
            match check(r) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(LockFile {
            file,
            path: path.to_path_buf(),
            remove_on_drop,
        })
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        if self.remove_on_drop {
            let _ = std::fs::remove_file(&self.path);
        }
        // Closing the file releases the lock.
        let _ = &self.file;
    }
}

/// Write `data` to `path` atomically: temp file in the same directory, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".tmp-{name}-{}", unique()));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        fsync_dir(dir)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// A string unique within this machine for temp names: pid, time and a counter.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{:x}-{}",
        std::process::id(),
        t,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Open `rel` beneath the directory `root` with `flags`, resolving every component (`..`,
/// absolute symlinks) as if `root` were `/`: nothing outside `root` can be reached.
pub fn open_in_root(root: RawFd, rel: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let c = cstr(rel)?;
    // SAFETY: open_how is plain old data; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    loop {
        // SAFETY: `c` is a NUL-terminated string and `how` a valid open_how, both alive for the
        // duration of the call; the size passed is the size of `how`.
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
            // SAFETY: openat2 returned a new descriptor that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}

/// Open a directory by path (outside any root), for use as an `*at` anchor.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let fd = check(unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: open returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
