//! Terminals: the container's pty is opened inside the container and its master handed over a
//! unix socket (the console socket), as runc does.

use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Open a pty in the current root, send its master over `socket`, and make the slave this
/// process's controlling terminal and stdio.
pub fn setup_console(socket: RawFd, size: Option<(u16, u16)>) -> Result<()> {
    let master = nix::pty::posix_openpt(nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY)
        .map_err(|e| Error::sys("open /dev/ptmx", e))?;
    nix::pty::grantpt(&master).map_err(|e| Error::sys("grantpt", e))?;
    nix::pty::unlockpt(&master).map_err(|e| Error::sys("unlockpt", e))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| Error::sys("ptsname", e))?;
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&name)
        .map_err(|e| Error::io("open", &name, e))?;
    if let Some((rows, cols)) = size {
        set_size(slave.as_raw_fd(), rows, cols);
    }
    bind_console(&name);
    send_master(socket, master.as_raw_fd(), &name)?;
    drop(master);
    for fd in 0..3 {
        // SAFETY: dup2 onto stdio numbers; the old stdio is meant to be replaced.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(Error::sys("dup2 pty", nix::errno::Errno::last()));
        }
    }
    // SAFETY: TIOCSCTTY on our own slave descriptor with an integer argument.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } != 0 {
        return Err(Error::Init(format!(
            "set controlling tty: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

use std::os::unix::fs::OpenOptionsExt;

/// /dev/console is the pty too, as on a real machine.
fn bind_console(name: &str) {
    if std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/dev/console")
        .is_ok()
    {
        let _ = nix::mount::mount(
            Some(name),
            "/dev/console",
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        );
    }
}

pub fn set_size(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize we own; failure is harmless.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

fn send_master(socket: RawFd, master: RawFd, name: &str) -> Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let iov = [std::io::IoSlice::new(name.as_bytes())];
    let fds = [master];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(socket, &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
        .map_err(|e| Error::sys("send pty master to console socket", e))?;
    Ok(())
}

/// Connect to a console socket given on the command line.
pub fn connect_console_socket(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path).map_err(|e| Error::io("connect console socket", path, e))?;
    Ok(OwnedFd::from(s))
}

/// A local console socket pair for a foreground container: (our end, the end init gets).
pub fn local_console() -> Result<(OwnedFd, OwnedFd)> {
    let (a, b) = UnixStream::pair().map_err(|e| Error::io("socketpair", "console", e))?;
    Ok((OwnedFd::from(a), OwnedFd::from(b)))
}

/// Receive a pty master sent by `setup_console`.
pub fn recv_master(sock: &OwnedFd) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| Error::sys("receive pty master", e))?;
    for c in msg
        .cmsgs()
        .map_err(|e| Error::sys("receive pty master", e))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel installed this descriptor for us just now.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(Error::Init("console socket closed without a pty".into()))
}
