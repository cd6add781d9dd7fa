//! The message channel between the runtime and a container's init (a SEQPACKET socket pair):
//! each message is one JSON datagram, so the two sides never need framing.

use crate::error::{Error, Result};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum Msg {
    /// stage 1 → runtime: the pid of the container's init, in the runtime's pid namespace.
    InitPid(i32),
    /// runtime → init: id mappings written and cgroup joined; carry on. Carries init's pid
    /// as the runtime sees it.
    Go(i32),
    /// init → runtime: namespaces and mounts are ready; run prestart and createRuntime hooks.
    RunCreateHooks,
    /// runtime → init: the hooks ran.
    HooksDone,
    /// init → runtime: created; waiting for start.
    Ready,
    /// `start` → init: go ahead and exec the process.
    Start,
    /// init → `start`: startContainer hooks ran; exec comes next.
    Started,
    /// either side: what went wrong.
    Failed(String),
}

pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| Error::sys("socketpair", e))?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    pub fn from_fd(fd: OwnedFd) -> Channel {
        Channel { fd }
    }

    pub fn send(&self, msg: &Msg) -> Result<()> {
        self.send_with_fd(msg, None)
    }

    /// Send a message, optionally with a file descriptor attached (SCM_RIGHTS).
    pub fn send_with_fd(&self, msg: &Msg, fd: Option<RawFd>) -> Result<()> {
        let data = serde_json::to_vec(msg).expect("messages serialize");
        let iov = [IoSlice::new(&data)];
        let fds = fd.map(|f| [f]);
        let cmsgs: Vec<ControlMessage> = fds.iter().map(|f| ControlMessage::ScmRights(f)).collect();
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &iov,
            &cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|e| Error::sys("send to container init", e))?;
        Ok(())
    }

    /// Receive one message; `None` when the other side closed without a word.
    pub fn recv(&self) -> Result<Option<Msg>> {
        Ok(self.recv_with_fd()?.map(|(m, _)| m))
    }

    pub fn recv_with_fd(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(r) => {
                    let mut fd = None;
                    for c in r.cmsgs().map_err(|e| Error::sys("recvmsg", e))? {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            // SAFETY: the kernel just installed these descriptors for us.
                            fd = fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) });
                        }
                    }
                    break (r.bytes, fd);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("receive from container init", e)),
            }
        };
        if len == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..len])
            .map_err(|e| Error::Init(format!("bad message from peer: {e}")))?;
        Ok(Some((msg, fd)))
    }

    /// Wait for a specific message; a `Failed` or a hang-up becomes an error.
    pub fn expect(&self, want: &str, matches: impl Fn(&Msg) -> bool) -> Result<Msg> {
        match self.recv()? {
            Some(Msg::Failed(reason)) => Err(Error::Init(reason)),
            Some(m) if matches(&m) => Ok(m),
            Some(m) => Err(Error::Init(format!("expected {want}, got {m:?}"))),
            None => Err(Error::Init(format!("container init exited before {want}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cross_and_hangup_is_seen() {
        let (a, b) = Channel::pair().unwrap();
        a.send(&Msg::InitPid(42)).unwrap();
        assert_eq!(b.recv().unwrap(), Some(Msg::InitPid(42)));
        a.send(&Msg::Failed("boom".into())).unwrap();
        assert!(
            matches!(b.expect("go", |m| matches!(m, Msg::Go(_))), Err(Error::Init(r)) if r == "boom")
        );
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }
}
