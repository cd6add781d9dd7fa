//! Networks as the engine keeps them: records under `<data-root>/networks/<id>.json` (each
//! written atomically), the endpoints of containers on them with their persisted addresses,
//! and the live parts the records imply (bridges, firewall tables, DNS servers), which
//! `reconcile` re-creates after a daemon restart.
//!
//! - `ops`: create, remove, prune, connect, disconnect (the `/networks` API).
//! - `attach`: what a container gets at create, start, exit and remove.
//! - `docker`: Docker's JSON shapes.

mod attach;
mod docker;
mod ops;

pub use ops::CreateRequest;

use crate::container::Store;
use crate::daemon::Roots;
use net::ipam::{Subnet, Subnet6};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The default network's name, as Docker calls it.
pub const DEFAULT: &str = "bridge";
/// The networks that exist without records.
pub const PREDEFINED: &[&str] = &["bridge", "host", "none"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invalid,
    NotFound,
    Conflict,
    Forbidden,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0} not found")]
    NotFound(String),
    /// A create request names a network that does not exist (400, not 404: a 404 on create
    /// makes the docker CLI try to pull the image).
    #[error("network {0} not found")]
    UnknownNetwork(String),
    #[error("network with name {0} already exists")]
    NameInUse(String),
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    ActiveEndpoints { name: String, id: String },
    #[error("invalid network request: {0}")]
    Invalid(String),
    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyConnected { container: String, network: String },
    #[error("container {container} is not connected to network {network}")]
    NotConnected { container: String, network: String },
    #[error("{0}")]
    Ipam(#[from] net::ipam::Error),
    #[error("{0}")]
    Ports(#[from] net::ports::Error),
    #[error("{0}")]
    Bridge(#[from] net::bridge::Error),
    #[error("{0}")]
    Netns(#[from] net::netns::Error),
    #[error("{0}")]
    Firewall(#[from] net::firewall::Error),
    #[error("{0}")]
    Hosts(#[from] net::etcfiles::Error),
    #[error("embedded DNS server on {addr}: {err}")]
    Dns { addr: String, err: std::io::Error },
    #[error("{what} {path}: {err}")]
    Io {
        what: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
}

impl NetworkError {
    pub fn kind(&self) -> Kind {
        use NetworkError as E;
        match self {
            E::NotFound(_) => Kind::NotFound,
            E::NameInUse(_) => Kind::Conflict,
            E::Predefined(_) | E::ActiveEndpoints { .. } => Kind::Forbidden,
            E::AlreadyConnected { .. } | E::NotConnected { .. } => Kind::Forbidden,
            E::Invalid(_) | E::UnknownNetwork(_) | E::Ports(_) | E::Hosts(_) => Kind::Invalid,
            E::Ipam(net::ipam::Error::InUse(_) | net::ipam::Error::Overlaps) => Kind::Forbidden,
            E::Ipam(_) => Kind::Invalid,
            _ => Kind::Internal,
        }
    }
}

pub type Result<T> = std::result::Result<T, NetworkError>;

fn io<'a>(what: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> NetworkError + 'a {
    move |err| NetworkError::Io {
        what,
        path: path.to_path_buf(),
        err,
    }
}

/// One bridge network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub created: String,
    /// The Linux bridge device.
    pub bridge: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub ip_range: Option<Subnet>,
    /// Subnet given by the user (only then may containers ask for an address).
    pub user_subnet: bool,
    /// `--ipv6`: containers also get an address from `subnet6`, routed via `gateway6`.
    #[serde(default)]
    pub enable_ipv6: bool,
    #[serde(default)]
    pub subnet6: Option<Subnet6>,
    #[serde(default)]
    pub gateway6: Option<Ipv6Addr>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// By container id.
    pub endpoints: BTreeMap<String, Endpoint>,
}

/// A container on a network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub ip: Ipv4Addr,
    /// The address on an IPv6 network.
    #[serde(default)]
    pub ip6: Option<Ipv6Addr>,
    pub aliases: Vec<String>,
    /// The host end of the veth pair.
    pub host_veth: String,
    /// Plugged in now (the container runs); found again by `reconcile`, not persisted.
    #[serde(skip)]
    pub active: bool,
    /// The interface name inside the container when active.
    #[serde(skip)]
    pub ifname: String,
}

impl Network {
    fn is_default(&self) -> bool {
        self.name == DEFAULT
    }

    fn used(&self) -> std::collections::BTreeSet<Ipv4Addr> {
        let mut s: std::collections::BTreeSet<_> = self.endpoints.values().map(|e| e.ip).collect();
        s.insert(self.gateway);
        s
    }

    fn allocate(&self, requested: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
        let used = self.used();
        match requested {
            Some(ip) => {
                self.subnet.check("requested address", ip)?;
                if used.contains(&ip) {
                    return Err(net::ipam::Error::InUse(ip.into()).into());
                }
                Ok(ip)
            }
            None => Ok(net::ipam::allocate(
                &self.subnet,
                self.ip_range.as_ref(),
                &used,
            )?),
        }
    }
}

impl Network {
    /// The IPv6 address for a new endpoint: `requested` (checked) or the lowest free one;
    /// none on a network without IPv6.
    fn allocate6(&self, requested: Option<Ipv6Addr>) -> Result<Option<Ipv6Addr>> {
        let Some(s6) = self.subnet6.filter(|_| self.enable_ipv6) else {
            if requested.is_some() {
                return Err(NetworkError::Invalid(format!(
                    "network {} has no IPv6 subnet: an IPv6 address cannot be given",
                    self.name
                )));
            }
            return Ok(None);
        };
        let mut used: std::collections::BTreeSet<Ipv6Addr> =
            self.endpoints.values().filter_map(|e| e.ip6).collect();
        used.extend(self.gateway6);
        match requested {
            Some(ip) => {
                s6.check("requested address", ip)?;
                if used.contains(&ip) {
                    return Err(net::ipam::Error::InUse(ip.into()).into());
                }
                Ok(Some(ip))
            }
            None => Ok(Some(net::ipam::allocate6(&s6, &used)?)),
        }
    }

    /// The IPv6 gateway and prefix, on an IPv6 network.
    pub(super) fn v6(&self) -> Option<(Ipv6Addr, u8)> {
        match (self.enable_ipv6, self.subnet6, self.gateway6) {
            (true, Some(s6), Some(gw)) => Some((gw, s6.prefix)),
            _ => None,
        }
    }
}

/// The daemon's networks and the live parts they own.
pub struct Networks {
    dir: PathBuf,
    netns_dir: PathBuf,
    containers: Store,
    all: Arc<Mutex<BTreeMap<String, Network>>>,
    dns: Mutex<HashMap<String, net::dns::DnsServer>>,
    fw: Box<dyn net::firewall::Firewall>,
    /// Published ports of running containers, by container id.
    ports: Mutex<HashMap<String, Vec<net::ports::Published>>>,
    /// Networks whose bridge and rules this daemon has made or checked.
    up: Mutex<std::collections::HashSet<String>>,
    /// Serialises record writes (one temporary file per record).
    save_lock: Mutex<()>,
    /// Namespaces with their veth pair made ahead of time ($TUG_NETNS_POOL of them, 2 by
    /// default; 0 for none).
    pool: net::pool::Pool,
}

impl Networks {
    /// Load the records; the default network is made on first use of a data root, on bridge
    /// `$TUG_BRIDGE` (default `tug0`; `none` for no default network) with subnet `$TUG_BIP`.
    pub fn open(roots: &Roots, containers: Store) -> Result<Networks> {
        let dir = roots.data.join("networks");
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let mut all = BTreeMap::new();
        for e in std::fs::read_dir(&dir).map_err(io("read", &dir))?.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                let data = std::fs::read(&p).map_err(io("read", &p))?;
                match serde_json::from_slice::<Network>(&data) {
                    Ok(n) => {
                        all.insert(n.id.clone(), n);
                    }
                    Err(e) => eprintln!("tug daemon: skipping network record {}: {e}", p.display()),
                }
            }
        }
        let ports_dir = dir.join("ports");
        let mut ports = HashMap::new();
        for e in std::fs::read_dir(&ports_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(list) = std::fs::read(e.path())
                .map_err(|_| ())
                .and_then(|d| serde_json::from_slice(&d).map_err(|_| ()))
            {
                ports.insert(e.file_name().to_string_lossy().to_string(), list);
            }
        }
        let nets = Networks {
            dir,
            netns_dir: roots.exec.join("netns"),
            containers,
            all: Arc::new(Mutex::new(all)),
            dns: Mutex::new(HashMap::new()),
            fw: net::firewall::detect()?,
            ports: Mutex::new(ports),
            up: Mutex::new(Default::default()),
            save_lock: Mutex::new(()),
            pool: net::pool::Pool::new(
                roots.exec.join("netns-pool"),
                std::env::var("TUG_NETNS_POOL")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(2),
            ),
        };
        nets.ensure_default()?;
        Ok(nets)
    }

    /// At daemon exit: the namespaces made ahead of time go (containers keep theirs).
    pub fn shutdown(&self) {
        self.pool.drain();
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Network>> {
        self.all.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, n: &Network) -> Result<()> {
        let path = self.dir.join(format!("{}.json", n.id));
        let data = serde_json::to_vec_pretty(n).expect("records serialize");
        let _g = self.save_lock.lock().unwrap_or_else(|p| p.into_inner());
        runtime::util::write_atomic(&path, &data)
            .map_err(|e| io("write", &path)(std::io::Error::other(e.to_string())))
    }

    fn ensure_default(&self) -> Result<()> {
        let bridge = std::env::var("TUG_BRIDGE").unwrap_or_else(|_| "tug0".into());
        let mut all = self.lock();
        if bridge == "none" || all.values().any(|n| n.is_default()) {
            return Ok(());
        }
        let subnet = match std::env::var("TUG_BIP") {
            Ok(bip) => bip.parse::<Subnet>()?,
            // A bridge another daemon made keeps its subnet: its route names it.
            Err(_) => match route_of(&bridge) {
                Some(s) => s,
                None => net::ipam::pick_subnet(&taken(&all), &net::ipam::host_routes())?,
            },
        };
        let gateway = match std::env::var("TUG_BIP") {
            Ok(bip) => net::ipam::parse_ip(bip.split('/').next().unwrap_or_default())
                .ok()
                .filter(|ip| *ip != subnet.addr)
                .unwrap_or_else(|| subnet.default_gateway()),
            Err(_) => subnet.default_gateway(),
        };
        let n = Network {
            id: crate::container::names::new_id(),
            name: DEFAULT.into(),
            created: runtime::util::rfc3339_now(),
            bridge,
            subnet,
            gateway,
            ip_range: None,
            user_subnet: false,
            enable_ipv6: false,
            subnet6: None,
            gateway6: None,
            internal: false,
            attachable: false,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            endpoints: BTreeMap::new(),
        };
        self.save(&n)?;
        all.insert(n.id.clone(), n);
        Ok(())
    }

    /// A network by id, name or unique id prefix (Docker's order).
    pub fn get(&self, key: &str) -> Result<Network> {
        find(&self.lock(), key).cloned()
    }

    pub fn list(&self) -> Vec<Network> {
        let mut v: Vec<Network> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    fn netns_path(&self, id: &str) -> PathBuf {
        self.netns_dir.join(id)
    }

    /// The live parts of one network: bridge, firewall table (with isolation from the other
    /// networks), and for user-defined networks the DNS server.
    fn bring_up(&self, all: &BTreeMap<String, Network>, n: &Network) -> Result<()> {
        net::bridge::ensure(&n.bridge, Some(n.gateway), n.subnet.prefix, n.v6())?;
        self.fw.apply_network(&rules(all, n))?;
        if !n.is_default() {
            self.start_dns(n)?;
        }
        Ok(())
    }

    /// Re-apply the isolation rules of every live network (after one came or went).
    fn refresh_firewall(&self, all: &BTreeMap<String, Network>) {
        for n in all.values() {
            if net::bridge::exists(&n.bridge) {
                if let Err(e) = self.fw.apply_network(&rules(all, n)) {
                    eprintln!("tug daemon: network {}: {e}", n.name);
                }
            }
        }
    }

    fn start_dns(&self, n: &Network) -> Result<()> {
        let mut dns = self.dns.lock().unwrap_or_else(|p| p.into_inner());
        if dns.contains_key(&n.id) {
            return Ok(());
        }
        let addr = std::net::SocketAddrV4::new(n.gateway, 53);
        let server = net::dns::DnsServer::start(addr, self.lookup(&n.id), self.upstreams(&n.id))
            .map_err(|err| NetworkError::Dns {
                addr: addr.to_string(),
                err,
            })?;
        dns.insert(n.id.clone(), server);
        Ok(())
    }

    /// Where other names go, by the asking container's address on network `id`: its
    /// `--dns` servers (as Docker's embedded server does), else the host's resolvers (from
    /// the host's namespace, so loopback ones work too).
    fn upstreams(&self, id: &str) -> net::dns::Upstreams {
        let all = self.all.clone();
        let store = self.containers.clone();
        let id = id.to_string();
        Arc::new(move |client: std::net::IpAddr| {
            let cid = {
                let all = all.lock().unwrap_or_else(|p| p.into_inner());
                all.get(&id).and_then(|n| {
                    n.endpoints
                        .iter()
                        .find(|(_, e)| std::net::IpAddr::V4(e.ip) == client)
                        .map(|(cid, _)| cid.clone())
                })
            };
            let own: Vec<String> = cid
                .and_then(|cid| store.get(&cid).ok())
                .map(|c| attach::strings(&c.host_config["Dns"]))
                .unwrap_or_default();
            let servers = if own.is_empty() {
                host_resolv().nameservers
            } else {
                own
            };
            servers
                .iter()
                .filter_map(|s| s.parse::<std::net::IpAddr>().ok())
                .map(|ip| std::net::SocketAddr::new(ip, 53))
                .collect()
        })
    }

    /// Names on network `id`: running containers' names, short ids, host names and aliases.
    fn lookup(&self, id: &str) -> net::dns::Lookup {
        let all = self.all.clone();
        let store = self.containers.clone();
        let id = id.to_string();
        Arc::new(move |name: &str| {
            let all = all.lock().unwrap_or_else(|p| p.into_inner());
            let n = all.get(&id)?;
            let ips: Vec<std::net::IpAddr> = n
                .endpoints
                .iter()
                .filter(|(_, e)| e.active)
                .filter(|(cid, e)| {
                    e.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
                        || store.get(cid).is_ok_and(|c| {
                            c.name.trim_start_matches('/').eq_ignore_ascii_case(name)
                                || (name.len() == 12 && c.id.starts_with(name))
                                || c.config["Hostname"]
                                    .as_str()
                                    .is_some_and(|h| h.eq_ignore_ascii_case(name))
                        })
                })
                .flat_map(|(_, e)| {
                    std::iter::once(std::net::IpAddr::V4(e.ip))
                        .chain(e.ip6.map(std::net::IpAddr::V6))
                })
                .collect();
            (!ips.is_empty()).then_some(ips)
        })
    }
}

fn rules(all: &BTreeMap<String, Network>, n: &Network) -> net::firewall::NetworkRules {
    net::firewall::NetworkRules {
        bridge: n.bridge.clone(),
        subnet: n.subnet,
        subnet6: n.v6().and(n.subnet6),
        internal: n.internal,
        others: all
            .values()
            .filter(|o| o.id != n.id)
            .map(|o| o.bridge.clone())
            .collect(),
    }
}

fn taken(all: &BTreeMap<String, Network>) -> Vec<Subnet> {
    all.values().map(|n| n.subnet).collect()
}

/// The subnet routed to `dev`, if any (a bridge that is already configured).
fn route_of(dev: &str) -> Option<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").ok()?;
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.first() != Some(&dev) {
            return None;
        }
        let dst = u32::from_str_radix(f.get(1)?, 16).ok()?;
        let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
        (mask != 0).then(|| Subnet::new(Ipv4Addr::from(dst.to_le_bytes()), mask.count_ones() as u8))
    })
}

fn host_resolv() -> net::etcfiles::Resolv {
    net::etcfiles::Resolv::parse(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
}

fn find<'a>(all: &'a BTreeMap<String, Network>, key: &str) -> Result<&'a Network> {
    if let Some(n) = all.get(key) {
        return Ok(n);
    }
    if let Some(n) = all.values().find(|n| n.name == key) {
        return Ok(n);
    }
    let mut m = all
        .values()
        .filter(|n| !key.is_empty() && n.id.starts_with(key));
    match (m.next(), m.next()) {
        (Some(n), None) => Ok(n),
        _ => Err(NetworkError::NotFound(key.to_string())),
    }
}

impl From<NetworkError> for crate::engine::EngineError {
    fn from(e: NetworkError) -> Self {
        use crate::engine::Kind as K;
        let kind = match e.kind() {
            Kind::Invalid => K::Invalid,
            Kind::NotFound => K::NotFound,
            // The engine has no 403: a refused change is a conflict with the current state.
            Kind::Conflict | Kind::Forbidden => K::Conflict,
            Kind::Internal => K::Internal,
        };
        crate::engine::EngineError::new(kind, e.to_string())
    }
}
