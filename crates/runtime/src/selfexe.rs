//! Protection of the runtime binary against being overwritten from inside a container
//! (CVE-2019-5736): before touching a container, the runtime re-executes itself from a copy
//! that cannot be written, so `/proc/<pid>/exe` of any runtime process a container can see
//! never leads to the binary on the host.
//!
//! The copy is kept once per binary version in a root-only directory on tmpfs
//! (`/run/tug/exe/`), marked immutable (writing needs CAP_LINUX_IMMUTABLE, which containers do
//! not get): re-executing from it costs one exec. Where that is not possible, the copy is a
//! sealed memfd made anew each time (a full copy of the binary).

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const MEMFD_NAME: &str = "tug-runtime-sealed";

const COPY_DIR: &str = "/run/tug/exe";
const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
const FS_IMMUTABLE_FL: libc::c_long = 0x10;

/// True when this process already runs from a protected copy.
pub fn is_sealed() -> bool {
    std::fs::read_link("/proc/self/exe")
        .map(|p| {
            let p = p.to_string_lossy();
            p.starts_with(&format!("/memfd:{MEMFD_NAME}")) || p.starts_with(&format!("{COPY_DIR}/"))
        })
        .unwrap_or(false)
}

fn is_immutable(f: &std::fs::File) -> bool {
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one long into `flags`, which we own.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_GETFLAGS, &mut flags) };
    rc == 0 && flags & FS_IMMUTABLE_FL != 0
}

fn set_immutable(f: &std::fs::File) -> std::io::Result<()> {
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one long into `flags`; FS_IOC_SETFLAGS reads it.
    unsafe {
        if libc::ioctl(f.as_raw_fd(), FS_IOC_GETFLAGS, &mut flags) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        flags |= FS_IMMUTABLE_FL;
        if libc::ioctl(f.as_raw_fd(), FS_IOC_SETFLAGS, &flags) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The immutable copy of our binary in COPY_DIR, made if missing. Keyed by the binary's device,
/// inode, size and modification time, so a rebuilt binary gets its own copy.
fn immutable_copy() -> std::io::Result<std::fs::File> {
    immutable_copy_at().map(|(f, _)| f)
}

/// The path of the immutable copy of our binary (made if missing): what `--init` bind-mounts
/// into containers, so that not even their PID 1 sees a writable tug binary.
pub fn sealed_path() -> std::io::Result<std::path::PathBuf> {
    immutable_copy_at().map(|(_, p)| p)
}

fn immutable_copy_at() -> std::io::Result<(std::fs::File, std::path::PathBuf)> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    let m = std::fs::metadata("/proc/self/exe")?;
    let stamp = m.mtime() * 1_000_000_000 + m.mtime_nsec();
    let name = format!("tug-{}-{}-{}-{stamp}", m.dev(), m.ino(), m.size());
    let path = std::path::Path::new(COPY_DIR).join(&name);
    if let Ok(f) = std::fs::File::open(&path) {
        if is_immutable(&f) && f.metadata()?.len() == m.size() {
            return Ok((f, path));
        }
        return Err(std::io::Error::other("copy not sealed yet"));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(COPY_DIR)?;
    let tmp = std::path::Path::new(COPY_DIR).join(format!(".{name}.{}", std::process::id()));
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o500)
        .open(&tmp)?;
    std::io::copy(&mut std::fs::File::open("/proc/self/exe")?, &mut out)?;
    out.sync_all()?;
    drop(out);
    std::fs::rename(&tmp, &path)?;
    let f = std::fs::File::open(&path)?;
    set_immutable(&f)?;
    remove_stale_copies(&name);
    Ok((f, path))
}

/// Copies our processes run from now (shims, runtime and init processes): those stay
/// immutable, whatever binary made them.
fn copies_in_use() -> std::collections::HashSet<std::path::PathBuf> {
    let mut used = std::collections::HashSet::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return used;
    };
    for p in procs.flatten() {
        if let Ok(exe) = std::fs::read_link(p.path().join("exe")) {
            if exe.starts_with(COPY_DIR) {
                used.insert(exe);
            }
        }
    }
    used
}

/// Copies of other binary versions that no process runs any more.
fn remove_stale_copies(keep: &str) {
    let Ok(entries) = std::fs::read_dir(COPY_DIR) else {
        return;
    };
    let used = copies_in_use();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == keep || !name.starts_with("tug-") || used.contains(&e.path()) {
            continue;
        }
        if let Ok(f) = std::fs::File::open(e.path()) {
            let mut flags: libc::c_long = 0;
            // SAFETY: FS_IOC_GETFLAGS/SETFLAGS read and write one long we own.
            unsafe {
                if libc::ioctl(f.as_raw_fd(), FS_IOC_GETFLAGS, &mut flags) == 0 {
                    flags &= !FS_IMMUTABLE_FL;
                    libc::ioctl(f.as_raw_fd(), FS_IOC_SETFLAGS, &flags);
                }
            }
        }
        let _ = std::fs::remove_file(e.path());
    }
}

fn args_and_env() -> (Vec<CString>, Vec<CString>) {
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.into_encoded_bytes()).expect("argv has no NUL"))
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).expect("environment has no NUL")
        })
        .collect();
    (args, env)
}

/// Re-execute from a sealed memfd copy of our binary unless already done. Returns only on
/// failure, with the reason.
pub fn reexec_sealed() -> std::io::Result<()> {
    if is_sealed() {
        return Ok(());
    }
    if let Ok(copy) = immutable_copy() {
        let (args, env) = args_and_env();
        // On success this does not return; on failure fall back to the memfd copy.
        let _ = nix::unistd::fexecve(&copy, &args, &env);
    }
    let name = CString::new(MEMFD_NAME).expect("no NUL");
    // SAFETY: memfd_create takes a valid C string and flags; it returns a new descriptor.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and is owned by nobody else.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut exe = std::fs::File::open("/proc/self/exe")?;
    let len = exe.metadata()?.len() as usize;
    let mut copied = 0usize;
    while copied < len {
        // SAFETY: both descriptors are open; sendfile copies in the kernel.
        let n = unsafe {
            libc::sendfile(
                memfd.as_raw_fd(),
                exe.as_raw_fd(),
                std::ptr::null_mut(),
                len - copied,
            )
        };
        if n <= 0 {
            let mut rest = Vec::new();
            exe.read_to_end(&mut rest)?;
            return Err(std::io::Error::other("could not copy the runtime binary"));
        }
        copied += n as usize;
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our own memfd with integer arguments.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let (args, env) = args_and_env();
    let err = nix::unistd::fexecve(&memfd, &args, &env).unwrap_err();
    Err(std::io::Error::from(err))
}
