//! Protection of the runtime binary against being overwritten from inside a container
//! (CVE-2019-5736): before touching a container, the runtime re-executes itself from a sealed,
//! read-only in-memory copy, so `/proc/<pid>/exe` of any runtime process a container can see
//! never leads to the binary on the host.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const MEMFD_NAME: &str = "tug-runtime-sealed";

/// True when this process already runs from the sealed copy.
pub fn is_sealed() -> bool {
    std::fs::read_link("/proc/self/exe")
        .map(|p| {
            p.to_string_lossy()
                .starts_with(&format!("/memfd:{MEMFD_NAME}"))
        })
        .unwrap_or(false)
}

/// Re-execute from a sealed memfd copy of our binary unless already done. Returns only on
/// failure, with the reason.
pub fn reexec_sealed() -> std::io::Result<()> {
    if is_sealed() {
        return Ok(());
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
    let err = nix::unistd::fexecve(&memfd, &args, &env).unwrap_err();
    Err(std::io::Error::from(err))
}
