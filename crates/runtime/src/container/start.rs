//! `start`: tell a created container's init to exec the user's program.

use super::load;
use crate::channel::{Channel, Msg};
use crate::error::{Error, Result};
use crate::hooks;
use crate::state::{Status, START_SOCKET};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

pub fn start(root: &Path, id: &str) -> Result<()> {
    let c = load(root, id)?;
    match c.status {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::WrongState {
                id: id.into(),
                status: "stopped",
                op: "start",
            })
        }
        s => {
            return Err(Error::WrongState {
                id: id.into(),
                status: s.as_str(),
                op: "start (already started)",
            })
        }
    }
    let dir = c.record.dir(root);
    let conn = connect(&dir)?;
    conn.send(&Msg::Start)?;
    conn.expect("started", |m| *m == Msg::Started)?;
    // The connection closes on exec (close-on-exec): anything else is the reason it failed.
    match conn.recv()? {
        None => {}
        Some(Msg::Failed(e)) => return Err(Error::Init(e)),
        Some(m) => return Err(Error::Init(format!("unexpected message {m:?}"))),
    }
    let _ = std::fs::remove_file(dir.join(START_SOCKET));
    let state = c.record.oci_state(Status::Running);
    if let Err(e) = hooks::run_all(
        "poststart",
        c.record
            .spec
            .hooks()
            .as_ref()
            .and_then(|h| h.poststart().as_ref()),
        &state,
    ) {
        // The spec: a failing poststart hook is logged; the container keeps running.
        eprintln!("warning: {e}");
    }
    Ok(())
}

fn connect(dir: &Path) -> Result<Channel> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let dirfd: OwnedFd = std::fs::File::open(dir)
        .map_err(|e| Error::io("open state dir", dir, e))?
        .into();
    let sock = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| Error::sys("socket", e))?;
    let path = format!("/proc/self/fd/{}/{START_SOCKET}", dirfd.as_raw_fd());
    let addr = UnixAddr::new(path.as_str()).map_err(|e| Error::sys("start socket address", e))?;
    connect(sock.as_raw_fd(), &addr)
        .map_err(|e| Error::sys(format!("connect {}", dir.join(START_SOCKET).display()), e))?;
    Ok(Channel::from_fd(sock))
}
