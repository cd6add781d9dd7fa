//! Bridge networks on the host and the links that join a namespace to them: the bridge with
//! its gateway address, and per endpoint a veth pair whose container end is created inside the
//! container's namespace and configured there (address, MAC, default route).

use crate::netlink::{self, Netlink};
use crate::netns;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bridge {bridge}: {err}")]
    Bridge { bridge: String, err: netlink::Error },
    #[error("attach to bridge {bridge}: {err}")]
    Attach { bridge: String, err: netlink::Error },
    #[error(transparent)]
    Netns(#[from] netns::Error),
    #[error("set {path}: {err}")]
    Sysctl { path: String, err: std::io::Error },
    #[error("remove link {name}: {err}")]
    Detach { name: String, err: netlink::Error },
}

pub type Result<T> = std::result::Result<T, Error>;

fn exists_ok(r: netlink::Result<()>) -> netlink::Result<()> {
    match r {
        Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
        r => r,
    }
}

fn sysctl(path: &str, value: &str) -> Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(path, value).map_err(|err| Error::Sysctl {
        path: path.to_string(),
        err,
    })
}

/// The bridge `name` up with `gateway/prefix` (when given) and the IPv6 `gateway6` (when
/// given), created if missing; forwarding on and loopback-sourced packets (published ports
/// reached on 127.0.0.1) routable to it.
pub fn ensure(
    name: &str,
    gateway: Option<Ipv4Addr>,
    prefix: u8,
    gateway6: Option<(Ipv6Addr, u8)>,
) -> Result<()> {
    let fail = |err| Error::Bridge {
        bridge: name.to_string(),
        err,
    };
    let mut nl = Netlink::open().map_err(fail)?;
    if netlink::link_index(name).is_none() {
        exists_ok(nl.create_bridge(name)).map_err(fail)?;
    }
    if let Some(gw) = gateway {
        exists_ok(nl.add_address(name, gw, prefix)).map_err(fail)?;
    }
    if let Some((gw6, prefix6)) = gateway6 {
        // No duplicate address detection: the gateway answers as soon as it is there.
        sysctl(&format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "0")?;
        sysctl(&format!("/proc/sys/net/ipv6/conf/{name}/accept_dad"), "0")?;
        exists_ok(nl.add_address6(name, gw6, prefix6)).map_err(fail)?;
        sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")?;
    }
    nl.link_up(name, None, None).map_err(fail)?;
    sysctl(
        &format!("/proc/sys/net/ipv4/conf/{name}/route_localnet"),
        "1",
    )?;
    sysctl("/proc/sys/net/ipv4/ip_forward", "1")
}

/// Delete a bridge; a bridge already gone is fine.
pub fn delete(name: &str) -> Result<()> {
    let fail = |err| Error::Bridge {
        bridge: name.to_string(),
        err,
    };
    Netlink::open()
        .map_err(fail)?
        .delete_link(name)
        .map_err(fail)
}

pub fn exists(name: &str) -> bool {
    netlink::link_index(name).is_some()
}

/// One endpoint to plug in.
#[derive(Debug, Clone)]
pub struct Attach {
    pub bridge: String,
    /// The host end's name (unique, ≤ 15 characters).
    pub host_veth: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub mac: [u8; 6],
    /// The default route, when the network has one (not `--internal`) and the container
    /// has none yet.
    pub gateway: Option<Ipv4Addr>,
    /// The IPv6 address and prefix on an IPv6 network.
    pub ip6: Option<(Ipv6Addr, u8)>,
    /// The IPv6 default route, on the same terms as `gateway`.
    pub gateway6: Option<Ipv6Addr>,
}

/// Plug the namespace at `netns` into `a.bridge`; returns the interface name inside
/// (eth0, eth1, … the first free one). On failure nothing is left behind.
pub fn attach(netns: &Path, a: &Attach) -> Result<String> {
    let inside = a.clone();
    let fail = |bridge: &str| {
        let bridge = bridge.to_string();
        move |err| Error::Attach { bridge, err }
    };
    let ifname = netns::run_in(netns, move |host| {
        configure_inside(&inside, host.as_raw_fd())
    })?
    .map_err(fail(&a.bridge))?;
    let plugged = Netlink::open().and_then(|mut nl| {
        nl.link_up(&a.host_veth, Some(&a.bridge), None)?;
        nl.set_hairpin(&a.host_veth)
    });
    if let Err(err) = plugged {
        let _ = detach(&a.host_veth);
        return Err(fail(&a.bridge)(err));
    }
    Ok(ifname)
}

/// Plug a namespace made ahead of time (see [`crate::pool`]) into `a.bridge`: its veth pair
/// exists already, so only names, address, route and the bridge port are set. Its interface
/// inside is `eth0`. On failure the caller deletes the namespace (and the pair with it).
pub fn attach_prepared(netns: &Path, host_veth: &str, a: &Attach) -> Result<String> {
    let fail = |err| Error::Attach {
        bridge: a.bridge.clone(),
        err,
    };
    let mut nl = Netlink::open().map_err(fail)?;
    nl.rename(host_veth, &a.host_veth).map_err(fail)?;
    let inside = a.clone();
    netns::run_in(netns, move |_| -> netlink::Result<()> {
        let mut nl = Netlink::open()?;
        configure(&mut nl, "eth0", &inside)
    })?
    .map_err(fail)?;
    nl.link_up(&a.host_veth, Some(&a.bridge), None)
        .and_then(|()| nl.set_hairpin(&a.host_veth))
        .map_err(fail)?;
    Ok("eth0".into())
}

/// The container end's MAC, address, state and default route.
fn configure(nl: &mut Netlink, ifname: &str, a: &Attach) -> netlink::Result<()> {
    nl.set_mac(ifname, a.mac)?;
    nl.add_address(ifname, a.ip, a.prefix)?;
    if let Some((ip6, prefix6)) = a.ip6 {
        // A new namespace has IPv6 on; make sure, and skip duplicate address detection so
        // the address works at once (the bridge has no other claimant for it).
        for (key, value) in [
            ("all/disable_ipv6", "0"),
            (&format!("{ifname}/disable_ipv6") as &str, "0"),
            (&format!("{ifname}/accept_dad"), "0"),
        ] {
            let path = format!("/proc/sys/net/ipv6/conf/{key}");
            if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() != value) {
                std::fs::write(&path, value).map_err(|err| netlink::Error::Request {
                    op: "set",
                    object: path.clone(),
                    err,
                })?;
            }
        }
        nl.add_address6(ifname, ip6, prefix6)?;
    }
    nl.link_up(ifname, None, None)?;
    if let Some(gw) = a.gateway {
        exists_ok(nl.add_default_route(gw))?;
    }
    if let Some(gw6) = a.gateway6.filter(|_| a.ip6.is_some()) {
        exists_ok(nl.add_default_route6(gw6, ifname))?;
    }
    Ok(())
}

/// On a thread inside the container's namespace: the veth pair (host end sent to `host_ns`),
/// loopback up, the address and route on the container end.
fn configure_inside(a: &Attach, host_ns: i32) -> netlink::Result<String> {
    let ifname = (0..64)
        .map(|i| format!("eth{i}"))
        .find(|n| netlink::link_index(n).is_none())
        .unwrap_or_else(|| "eth64".into());
    let mut nl = Netlink::open()?;
    nl.link_up("lo", None, None)?;
    // Created here with its peer in the host: the container end never crosses namespaces.
    nl.create_veth(&ifname, &a.host_veth, host_ns, None)?;
    let configured = configure(&mut nl, &ifname, a);
    if let Err(e) = configured {
        let _ = nl.delete_link(&ifname);
        return Err(e);
    }
    Ok(ifname)
}

/// Remove an endpoint's host end (its peer goes with it); a link already gone is fine.
pub fn detach(host_veth: &str) -> Result<()> {
    let fail = |err| Error::Detach {
        name: host_veth.to_string(),
        err,
    };
    Netlink::open()
        .map_err(fail)?
        .delete_link(host_veth)
        .map_err(fail)
}
