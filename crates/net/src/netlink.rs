//! A small synchronous rtnetlink client: bridges, veth pairs (the peer created directly in a
//! container's namespace), link state, IPv4 addresses and default routes.
//!
//! A netlink socket belongs to the network namespace of the thread that opened it, so the
//! container side is configured from a thread that joined the container's namespace
//! (see [`crate::netns::run_in`]).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("netlink socket: {0}")]
    Socket(std::io::Error),
    #[error("{op} {object}: {err}")]
    Request {
        op: &'static str,
        object: String,
        err: std::io::Error,
    },
    #[error("no network interface named {0}")]
    NoSuchLink(String),
    #[error("interface name {0:?} is invalid: 1 to 15 characters without '/' or spaces")]
    BadName(String),
}

impl Error {
    /// The errno of a refused request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Request { err, .. } => err.raw_os_error(),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
/// Bridge port settings (AF_BRIDGE) go through SETLINK: NEWLINK would ignore them.
const RTM_SETLINK: u16 = 19;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_PROTINFO: u16 = 12;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFLA_BRPORT_MODE: u16 = 4;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_GATEWAY: u16 = 5;
const NLA_F_NESTED: u16 = 0x8000;
const IFF_UP: u32 = 1;

/// One request being built: header, fixed part, attributes (nested ones via [`Msg::nest`]).
struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    fn new(typ: u16, flags: u16) -> Msg {
        let mut buf = vec![0u8; 16];
        buf[4..6].copy_from_slice(&typ.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        Msg { buf }
    }

    /// `struct ifinfomsg`.
    fn ifinfo(mut self, family: u8, index: i32, flags: u32, change: u32) -> Msg {
        self.ifinfo_body(family, index, flags, change);
        self
    }

    fn ifinfo_body(&mut self, family: u8, index: i32, flags: u32, change: u32) {
        self.buf.extend_from_slice(&[family, 0, 0, 0]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
    }

    fn attr(&mut self, typ: u16, data: &[u8]) -> &mut Msg {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&typ.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    fn attr_str(&mut self, typ: u16, s: &str) -> &mut Msg {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(typ, &data)
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    /// Start a nested attribute; `end` fixes its length.
    fn nest(&mut self, typ: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(typ | NLA_F_NESTED).to_ne_bytes());
        at
    }

    fn end(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

/// A route netlink socket in the calling thread's network namespace.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\0']) {
        return Err(Error::BadName(name.to_string()));
    }
    Ok(())
}

/// The index of a link in the calling thread's namespace.
pub fn link_index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

impl Netlink {
    pub fn open() -> Result<Netlink> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(Error::Socket(std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Netlink { fd, seq: 0 })
    }

    /// Send one request and wait for its acknowledgement.
    fn call(&mut self, msg: Msg, op: &'static str, object: &str) -> Result<()> {
        self.seq += 1;
        let data = msg.finish(self.seq);
        let failed = |err| Error::Request {
            op,
            object: object.to_string(),
            err,
        };
        // SAFETY: `data` is a valid buffer of `data.len()` bytes; the kernel is the peer.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), data.as_ptr().cast(), data.len(), 0) };
        if n < 0 {
            return Err(failed(std::io::Error::last_os_error()));
        }
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: `buf` is writable for its whole length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(failed(std::io::Error::last_os_error()));
            }
            if let Some(code) = ack_code(&buf[..n as usize], self.seq) {
                return match code {
                    0 => Ok(()),
                    e => Err(failed(std::io::Error::from_raw_os_error(-e))),
                };
            }
        }
    }

    /// A bridge named `name` (EEXIST when it is there already).
    pub fn create_bridge(&mut self, name: &str) -> Result<()> {
        check_name(name)?;
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL).ifinfo(0, 0, 0, 0);
        m.attr_str(IFLA_IFNAME, name);
        let info = m.nest(IFLA_LINKINFO);
        m.attr_str(IFLA_INFO_KIND, "bridge");
        m.end(info);
        self.call(m, "create bridge", name)
    }

    /// A veth pair: `name` here, `peer` moved into the namespace `peer_netns` with `peer_mac`.
    pub fn create_veth(
        &mut self,
        name: &str,
        peer: &str,
        peer_netns: RawFd,
        peer_mac: Option<[u8; 6]>,
    ) -> Result<()> {
        check_name(name)?;
        check_name(peer)?;
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL).ifinfo(0, 0, 0, 0);
        m.attr_str(IFLA_IFNAME, name);
        let info = m.nest(IFLA_LINKINFO);
        m.attr_str(IFLA_INFO_KIND, "veth");
        let data = m.nest(IFLA_INFO_DATA);
        let p = m.nest(VETH_INFO_PEER);
        m.ifinfo_body(0, 0, 0, 0);
        m.attr_str(IFLA_IFNAME, peer);
        m.attr(IFLA_NET_NS_FD, &(peer_netns as u32).to_ne_bytes());
        if let Some(mac) = peer_mac {
            m.attr(IFLA_ADDRESS, &mac);
        }
        m.end(p);
        m.end(data);
        m.end(info);
        self.call(m, "create veth", name)
    }

    /// Rename a link (it must be down).
    pub fn rename(&mut self, name: &str, to: &str) -> Result<()> {
        check_name(to)?;
        let index = self.index(name)?;
        let mut m = Msg::new(RTM_NEWLINK, 0).ifinfo(0, index, 0, 0);
        m.attr_str(IFLA_IFNAME, to);
        self.call(m, "rename", name)
    }

    fn index(&self, name: &str) -> Result<i32> {
        link_index(name)
            .map(|i| i as i32)
            .ok_or_else(|| Error::NoSuchLink(name.to_string()))
    }

    /// Bring a link up, optionally enslaving it to `master` and setting its MTU.
    pub fn link_up(&mut self, name: &str, master: Option<&str>, mtu: Option<u32>) -> Result<()> {
        let index = self.index(name)?;
        let master = master.map(|m| self.index(m)).transpose()?;
        let mut m = Msg::new(RTM_NEWLINK, 0).ifinfo(0, index, IFF_UP, IFF_UP);
        if let Some(mi) = master {
            m.attr(IFLA_MASTER, &(mi as u32).to_ne_bytes());
        }
        if let Some(mtu) = mtu {
            m.attr(IFLA_MTU, &mtu.to_ne_bytes());
        }
        self.call(m, "set up", name)
    }

    /// Set a link's MAC address.
    pub fn set_mac(&mut self, name: &str, mac: [u8; 6]) -> Result<()> {
        let index = self.index(name)?;
        let mut m = Msg::new(RTM_NEWLINK, 0).ifinfo(0, index, 0, 0);
        m.attr(IFLA_ADDRESS, &mac);
        self.call(m, "set MAC address of", name)
    }

    /// Turn on hairpin mode of a bridge port (a container reaching its own published port).
    pub fn set_hairpin(&mut self, port: &str) -> Result<()> {
        let index = self.index(port)?;
        let mut m = Msg::new(RTM_SETLINK, 0).ifinfo(libc::AF_BRIDGE as u8, index, 0, 0);
        let p = m.nest(IFLA_PROTINFO);
        m.attr(IFLA_BRPORT_MODE, &[1]);
        m.end(p);
        self.call(m, "set hairpin mode on", port)
    }

    /// Delete a link; a link already gone is not an error (teardown is idempotent).
    pub fn delete_link(&mut self, name: &str) -> Result<()> {
        let Some(index) = link_index(name) else {
            return Ok(());
        };
        let m = Msg::new(RTM_DELLINK, 0).ifinfo(0, index as i32, 0, 0);
        match self.call(m, "delete link", name) {
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(()),
            r => r,
        }
    }

    /// Add `addr/prefix` to a link (EEXIST when it has it).
    pub fn add_address(&mut self, name: &str, addr: Ipv4Addr, prefix: u8) -> Result<()> {
        let index = self.index(name)?;
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        m.buf
            .extend_from_slice(&[libc::AF_INET as u8, prefix, 0, libc::RT_SCOPE_UNIVERSE]);
        m.buf.extend_from_slice(&(index as u32).to_ne_bytes());
        m.attr(IFA_LOCAL, &addr.octets());
        m.attr(IFA_ADDRESS, &addr.octets());
        self.call(m, "add address to", name)
    }

    /// Add the IPv6 `addr/prefix` to a link without duplicate address detection, so it is
    /// usable at once (EEXIST when it has it).
    pub fn add_address6(&mut self, name: &str, addr: Ipv6Addr, prefix: u8) -> Result<()> {
        const IFA_F_NODAD: u8 = 0x02;
        let index = self.index(name)?;
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        m.buf.extend_from_slice(&[
            libc::AF_INET6 as u8,
            prefix,
            IFA_F_NODAD,
            libc::RT_SCOPE_UNIVERSE,
        ]);
        m.buf.extend_from_slice(&(index as u32).to_ne_bytes());
        m.attr(IFA_LOCAL, &addr.octets());
        m.attr(IFA_ADDRESS, &addr.octets());
        self.call(m, "add address to", name)
    }

    /// The IPv6 default route via `gateway` out of `dev` in the main table.
    pub fn add_default_route6(&mut self, gateway: Ipv6Addr, dev: &str) -> Result<()> {
        const RTA_OIF: u16 = 4;
        let index = self.index(dev)?;
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        m.buf.extend_from_slice(&[
            libc::AF_INET6 as u8,
            0,
            0,
            0,
            libc::RT_TABLE_MAIN,
            libc::RTPROT_BOOT,
            libc::RT_SCOPE_UNIVERSE,
            libc::RTN_UNICAST,
        ]);
        m.buf.extend_from_slice(&0u32.to_ne_bytes());
        m.attr(RTA_GATEWAY, &gateway.octets());
        m.attr(RTA_OIF, &(index as u32).to_ne_bytes());
        self.call(m, "add default route via", &gateway.to_string())
    }

    /// The default route via `gateway` in the main table.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<()> {
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        m.buf.extend_from_slice(&[
            libc::AF_INET as u8,
            0,
            0,
            0,
            libc::RT_TABLE_MAIN,
            libc::RTPROT_BOOT,
            libc::RT_SCOPE_UNIVERSE,
            libc::RTN_UNICAST,
        ]);
        m.buf.extend_from_slice(&0u32.to_ne_bytes());
        m.attr(RTA_GATEWAY, &gateway.octets());
        self.call(m, "add default route via", &gateway.to_string())
    }
}

/// The errno (0 for success) of the acknowledgement of `seq` in `buf`, if it is there.
fn ack_code(buf: &[u8], seq: u32) -> Option<i32> {
    let mut at = 0;
    while at + 16 <= buf.len() {
        let len = u32::from_ne_bytes(buf[at..at + 4].try_into().ok()?) as usize;
        let typ = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().ok()?);
        let s = u32::from_ne_bytes(buf[at + 8..at + 12].try_into().ok()?);
        if len < 16 {
            return None;
        }
        if typ == NLMSG_ERROR && s == seq && at + 20 <= buf.len() {
            return Some(i32::from_ne_bytes(buf[at + 16..at + 20].try_into().ok()?));
        }
        at += (len + 3) & !3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_aligned_and_nested_lengths_cover_their_children() {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE).ifinfo(0, 0, 0, 0);
        m.attr_str(IFLA_IFNAME, "br0");
        let n = m.nest(IFLA_LINKINFO);
        m.attr_str(IFLA_INFO_KIND, "bridge");
        m.end(n);
        let b = m.finish(7);
        assert_eq!(b.len() % 4, 0);
        assert_eq!(
            u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(u32::from_ne_bytes(b[8..12].try_into().unwrap()), 7);
        // header 16 + ifinfomsg 16 + IFLA_IFNAME "br0\0" (8) = 40: the nest starts there.
        let nest_len = u16::from_ne_bytes(b[40..42].try_into().unwrap()) as usize;
        assert_eq!(40 + nest_len, b.len());
        assert_eq!(&b[48..54], b"bridge");
    }

    #[test]
    fn an_ack_is_found_by_sequence_and_carries_the_errno() {
        let mut msg = vec![0u8; 36];
        msg[0..4].copy_from_slice(&36u32.to_ne_bytes());
        msg[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        msg[8..12].copy_from_slice(&3u32.to_ne_bytes());
        msg[16..20].copy_from_slice(&(-17i32).to_ne_bytes());
        assert_eq!(ack_code(&msg, 3), Some(-17));
        assert_eq!(ack_code(&msg, 4), None);
    }

    #[test]
    fn bad_interface_names_are_refused_before_the_kernel_sees_them() {
        for n in ["", "a-name-longer-than-15", "a/b"] {
            assert!(matches!(check_name(n), Err(Error::BadName(_))), "{n}");
        }
        assert!(check_name("tug0").is_ok());
    }
}
