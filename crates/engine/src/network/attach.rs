//! A container's side of networking: its endpoints chosen at create, its namespace, veths,
//! published ports and /etc files made at start, undone at exit (addresses kept) and at
//! remove (addresses released), and reconciled after a daemon restart.

use super::{find, host_resolv, io, Endpoint, Network, NetworkError, Networks, Result, DEFAULT};
use crate::container::Container;
use crate::prepare::StartExtras;
use crate::spec::MountSpec;
use net::etcfiles::{self, Resolv};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// What `HostConfig.NetworkMode` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Mode {
    Network(String),
    Host,
    None,
    Container(String),
}

pub(super) fn mode(c: &Container) -> Mode {
    match c.host_config["NetworkMode"].as_str().unwrap_or("") {
        "" | "default" => Mode::Network(DEFAULT.into()),
        "host" => Mode::Host,
        "none" => Mode::None,
        m => match m.strip_prefix("container:") {
            Some(other) => Mode::Container(other.to_string()),
            None => Mode::Network(m.to_string()),
        },
    }
}

pub(super) fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

/// One endpoint request: the network key and `EndpointsConfig` entry.
pub(super) struct EndpointRequest {
    pub aliases: Vec<String>,
    pub ip: Option<Ipv4Addr>,
    pub ip6: Option<std::net::Ipv6Addr>,
}

impl EndpointRequest {
    pub(super) fn from_json(v: &serde_json::Value) -> Result<EndpointRequest> {
        let ip = match v["IPAMConfig"]["IPv4Address"]
            .as_str()
            .filter(|s| !s.is_empty())
        {
            Some(s) => Some(net::ipam::parse_ip(s)?),
            None => None,
        };
        let ip6 = match v["IPAMConfig"]["IPv6Address"]
            .as_str()
            .filter(|s| !s.is_empty())
        {
            Some(s) => Some(
                s.parse()
                    .map_err(|_| net::ipam::Error::BadAddress(s.to_string()))?,
            ),
            None => None,
        };
        Ok(EndpointRequest {
            aliases: strings(&v["Aliases"]),
            ip,
            ip6,
        })
    }
}

/// A new endpoint on `n` for container `cid`, checked as Docker checks it.
pub(super) fn new_endpoint(n: &Network, cid: &str, req: &EndpointRequest) -> Result<Endpoint> {
    if n.endpoints.contains_key(cid) {
        return Err(NetworkError::AlreadyConnected {
            container: cid.to_string(),
            network: n.name.clone(),
        });
    }
    if (req.ip.is_some() || req.ip6.is_some()) && !n.user_subnet {
        return Err(NetworkError::Invalid(
            "user specified IP address is supported only when connecting to networks with user configured subnets".into(),
        ));
    }
    if !req.aliases.is_empty() && n.is_default() {
        return Err(NetworkError::Invalid(
            "network-scoped alias is supported only for containers in user defined networks".into(),
        ));
    }
    let id = crate::container::names::new_id();
    Ok(Endpoint {
        ip: n.allocate(req.ip)?,
        ip6: n.allocate6(req.ip6)?,
        aliases: req.aliases.clone(),
        host_veth: format!("veth{}", &id[..11]),
        id,
        active: false,
        ifname: String::new(),
    })
}

impl Networks {
    /// At create: check the network mode, published ports and extra hosts, and give the
    /// container its endpoints (addresses are allocated and persisted now).
    pub fn on_create(&self, c: &Container, body: &serde_json::Value) -> Result<()> {
        net::ports::requests(&c.host_config, &c.config)?;
        for h in strings(&c.host_config["ExtraHosts"]) {
            etcfiles::parse_extra_host(&h, Some(Ipv4Addr::UNSPECIFIED))?;
        }
        let key = match mode(c) {
            Mode::Network(key) => key,
            Mode::Container(other) => {
                self.containers
                    .get(&other)
                    .map_err(|_| NetworkError::Invalid(format!("No such container: {other}")))?;
                return Ok(());
            }
            Mode::Host | Mode::None => return Ok(()),
        };
        let configs = body["NetworkingConfig"]["EndpointsConfig"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut all = self.lock();
        if key == DEFAULT && !all.values().any(|n| n.is_default()) {
            return Ok(()); // no default network on this daemon: an unconnected namespace
        }
        let first = find(&all, &key)
            .map_err(|_| NetworkError::UnknownNetwork(key.clone()))?
            .clone();
        let default_cfg = (key == DEFAULT)
            .then(|| configs.get("default").cloned())
            .flatten();
        let mut wanted = vec![(first.id.clone(), configs.get(&key).cloned().or(default_cfg))];
        for (k, v) in &configs {
            let k = if k == "default" { DEFAULT } else { k.as_str() };
            let n = find(&all, k).map_err(|_| NetworkError::UnknownNetwork(k.to_string()))?;
            if n.id != first.id {
                wanted.push((n.id.clone(), Some(v.clone())));
            }
        }
        let mut changed = Vec::new();
        for (nid, cfg) in wanted {
            let req = EndpointRequest::from_json(&cfg.unwrap_or_default())?;
            let n = all.get(&nid).expect("found above");
            let ep = new_endpoint(n, &c.id, &req)?;
            let n = all.get_mut(&nid).expect("found above");
            n.endpoints.insert(c.id.clone(), ep);
            changed.push(n.clone());
        }
        for n in &changed {
            self.save(n)?;
        }
        Ok(())
    }

    /// At start: the namespace and its links, published ports and /etc files; on failure
    /// everything made so far is undone.
    pub fn prepare(&self, c: &Container, extras: &mut StartExtras) -> Result<()> {
        let r = self.prepare_inner(c, extras);
        if r.is_err() {
            self.release(&c.id);
        }
        r
    }

    fn prepare_inner(&self, c: &Container, extras: &mut StartExtras) -> Result<()> {
        let dir = self.containers.container_dir(&c.id);
        let hostname = hostname(c);
        let extra = self.extra_hosts(c, None)?;
        match mode(c) {
            Mode::Host => {
                let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
                let mut text = hosts;
                for (name, ip) in &extra {
                    text += &format!("{ip}\t{name}\n");
                }
                let host_name = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
                write_etc(&dir, &text, &resolv_for(c, None), host_name.trim(), extras)
            }
            Mode::None => {
                let hosts = etcfiles::hosts(None, &extra);
                write_etc(&dir, &hosts, &resolv_for(c, None), &hostname, extras)
            }
            Mode::Container(other) => {
                let o = self
                    .containers
                    .get(&other)
                    .map_err(|_| NetworkError::Invalid(format!("No such container: {other}")))?;
                if !o.state.running() || o.state.pid <= 0 {
                    return Err(NetworkError::Invalid(format!(
                        "cannot join network namespace of a non running container: {}",
                        o.name.trim_start_matches('/')
                    )));
                }
                extras.namespaces.network =
                    Some(PathBuf::from(format!("/proc/{}/ns/net", o.state.pid)));
                let odir = self.containers.container_dir(&o.id);
                for f in ["hosts", "resolv.conf", "hostname"] {
                    if odir.join(f).exists() {
                        extras.mounts.push(etc_mount(&odir, f));
                    }
                }
                Ok(())
            }
            Mode::Network(_) => self.plug(c, &dir, &hostname, extras),
        }
    }

    /// The container's networks, the one its mode names first.
    fn networks_of(&self, c: &Container) -> Vec<Network> {
        let all = self.lock();
        let first = match mode(c) {
            Mode::Network(k) => find(&all, &k).ok().map(|n| n.id.clone()),
            _ => None,
        };
        let mut v: Vec<Network> = all
            .values()
            .filter(|n| n.endpoints.contains_key(&c.id))
            .cloned()
            .collect();
        v.sort_by_key(|n| Some(&n.id) != first.as_ref());
        v
    }

    fn plug(
        &self,
        c: &Container,
        dir: &Path,
        hostname: &str,
        extras: &mut StartExtras,
    ) -> Result<()> {
        let nets = self.networks_of(c);
        let ns = self.netns_path(&c.id);
        net::netns::delete(&ns)?;
        // A namespace made ahead of time, with its veth pair, when the pool has one.
        let mut prepared = None;
        if !nets.is_empty() {
            if let Some(slot) = self.pool.take() {
                match net::pool::adopt(&slot, &ns) {
                    Ok(()) => prepared = Some(slot.host_veth),
                    Err(e) => {
                        eprintln!("tug daemon: container {}: {e}", c.id);
                        let _ = net::netns::delete(&slot.path);
                    }
                }
            }
        }
        if prepared.is_none() {
            net::netns::create(&ns)?;
        }
        extras.namespaces.network = Some(ns.clone());
        let (mut gateway_set, mut gateway6_set) = (false, false);
        for n in &nets {
            let gw = (!n.internal && !gateway_set).then_some(n.gateway);
            gateway_set |= gw.is_some();
            // The IPv6 default route from the first IPv6 network with a way out.
            let gw6 = n
                .v6()
                .map(|(g, _)| g)
                .filter(|_| !n.internal && !gateway6_set);
            gateway6_set |= gw6.is_some();
            self.plug_one(c, n, &ns, (gw, gw6), prepared.take().as_deref())?;
        }
        let own = nets.first().map(|n| (n.endpoints[&c.id].ip, n));
        if let Some((ip, _)) = own {
            self.publish(c, ip)?;
        }
        let user_net = own.filter(|(_, n)| !n.is_default()).map(|(_, n)| n.gateway);
        let extra = self.extra_hosts(c, own.map(|(_, n)| n.gateway))?;
        let names = vec![hostname.to_string()];
        let hosts = etcfiles::hosts(own.map(|(ip, _)| (ip, names.as_slice())), &extra);
        write_etc(dir, &hosts, &resolv_for(c, user_net), hostname, extras)
    }

    /// Plug one endpoint in (the network's bridge brought up first when needed).
    pub(super) fn plug_one(
        &self,
        c: &Container,
        n: &Network,
        ns: &Path,
        (gateway, gateway6): (Option<Ipv4Addr>, Option<std::net::Ipv6Addr>),
        prepared: Option<&str>,
    ) -> Result<()> {
        if !self.is_up(n) {
            let all = self.lock().clone();
            self.bring_up(&all, n)?;
            self.mark_up(n);
        }
        let ep = &n.endpoints[&c.id];
        let a = net::bridge::Attach {
            bridge: n.bridge.clone(),
            host_veth: ep.host_veth.clone(),
            ip: ep.ip,
            prefix: n.subnet.prefix,
            mac: net::ipam::mac_for(ep.ip),
            gateway,
            ip6: n.v6().and(ep.ip6).zip(n.subnet6.map(|s| s.prefix)),
            gateway6,
        };
        let ifname = match prepared {
            Some(veth) => net::bridge::attach_prepared(ns, veth, &a)?,
            None => net::bridge::attach(ns, &a)?,
        };
        self.set_active(&n.id, &c.id, Some(ifname))
    }

    pub(super) fn set_active(&self, nid: &str, cid: &str, ifname: Option<String>) -> Result<()> {
        let mut all = self.lock();
        let Some(n) = all.get_mut(nid) else {
            return Ok(());
        };
        let Some(ep) = n.endpoints.get_mut(cid) else {
            return Ok(());
        };
        ep.active = ifname.is_some();
        ep.ifname = ifname.unwrap_or_default();
        Ok(())
    }

    fn publish(&self, c: &Container, ip: Ipv4Addr) -> Result<()> {
        let reqs = net::ports::requests(&c.host_config, &c.config)?;
        if reqs.is_empty() {
            return Ok(());
        }
        let mut ports = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        let taken: Vec<net::ports::Published> = ports
            .iter()
            .filter(|(id, _)| **id != c.id)
            .flat_map(|(_, p)| p.iter().cloned())
            .collect();
        let published = net::ports::resolve(&reqs, &taken)?;
        self.fw.apply_ports(&net::firewall::PortRules {
            id: short(&c.id).into(),
            container_ip: ip,
            ports: published.clone(),
        })?;
        let dir = self.dir.join("ports");
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let path = dir.join(&c.id);
        let data = serde_json::to_vec(&published).expect("ports serialize");
        runtime::util::write_atomic(&path, &data)
            .map_err(|e| io("write", &path)(std::io::Error::other(e.to_string())))?;
        ports.insert(c.id.clone(), published);
        Ok(())
    }

    /// The published ports of a running container.
    pub fn published(&self, id: &str) -> Vec<net::ports::Published> {
        let ports = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        ports.get(id).cloned().unwrap_or_default()
    }

    fn extra_hosts(&self, c: &Container, gw: Option<Ipv4Addr>) -> Result<Vec<(String, String)>> {
        strings(&c.host_config["ExtraHosts"])
            .iter()
            .map(|h| {
                etcfiles::parse_extra_host(h, Some(gw.unwrap_or(Ipv4Addr::new(127, 0, 0, 1))))
                    .map_err(Into::into)
            })
            .collect()
    }

    /// At exit: links, namespace and published ports go; addresses stay. Idempotent and
    /// best effort: every step runs even when one fails.
    pub fn release(&self, id: &str) {
        let had_ports = self
            .ports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .is_some();
        if had_ports || self.dir.join("ports").join(id).exists() {
            if let Err(e) = self.fw.remove_ports(short(id)) {
                eprintln!("tug daemon: container {id}: {e}");
            }
            let _ = std::fs::remove_file(self.dir.join("ports").join(id));
        }
        let mine: Vec<(String, String)> = self
            .lock()
            .values()
            .filter_map(|n| {
                n.endpoints
                    .get(id)
                    .map(|e| (n.id.clone(), e.host_veth.clone()))
            })
            .collect();
        if let Err(e) = net::netns::delete(&self.netns_path(id)) {
            eprintln!("tug daemon: container {id}: {e}");
        }
        let mut veths = Vec::new();
        for (nid, veth) in mine {
            let _ = self.set_active(&nid, id, None);
            if net::bridge::exists(&veth) {
                veths.push(veth);
            }
        }
        // Deleting a veth waits for an RCU grace period (~30 ms): off the exit path. The
        // namespace is gone already, so nothing can use these links any more.
        if !veths.is_empty() {
            let id = id.to_string();
            std::thread::spawn(move || {
                for v in veths {
                    if let Err(e) = net::bridge::detach(&v) {
                        eprintln!("tug daemon: container {id}: {e}");
                    }
                }
            });
        }
    }

    /// At remove: also the endpoints and their addresses.
    pub fn forget(&self, id: &str) {
        self.release(id);
        let changed: Vec<Network> = {
            let mut all = self.lock();
            all.values_mut()
                .filter_map(|n| n.endpoints.remove(id).map(|_| n.clone()))
                .collect()
        };
        for n in changed {
            if let Err(e) = self.save(&n) {
                eprintln!("tug daemon: container {id}: {e}");
            }
        }
    }

    /// After a restart: live parts of the networks again, endpoints of removed containers
    /// dropped, leftovers of stopped containers undone, published ports of running ones
    /// re-applied.
    pub fn reconcile(&self) {
        let gone: Vec<String> = self
            .lock()
            .values()
            .flat_map(|n| n.endpoints.keys().cloned())
            .filter(|cid| self.containers.get(cid).is_err())
            .collect();
        for cid in gone {
            self.forget(&cid);
        }
        for c in self.containers.list() {
            if !c.state.running() {
                self.release(&c.id);
                continue;
            }
            let mut all = self.lock();
            for n in all.values_mut() {
                if let Some(ep) = n.endpoints.get_mut(&c.id) {
                    ep.active = net::bridge::exists(&ep.host_veth);
                }
            }
        }
        let all = self.lock().clone();
        for n in all.values() {
            let used = n.endpoints.values().any(|e| e.active);
            if !n.is_default() || used {
                match self.bring_up(&all, n) {
                    Ok(()) => self.mark_up(n),
                    Err(e) => eprintln!("tug daemon: network {}: {e}", n.name),
                }
            }
        }
        let ports = self.ports.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for (cid, published) in ports {
            let ip = all
                .values()
                .find_map(|n| n.endpoints.get(&cid).map(|e| e.ip));
            if let Some(ip) = ip {
                let rules = net::firewall::PortRules {
                    id: short(&cid).into(),
                    container_ip: ip,
                    ports: published,
                };
                if let Err(e) = self.fw.apply_ports(&rules) {
                    eprintln!("tug daemon: container {cid}: {e}");
                }
            }
        }
    }

    fn is_up(&self, n: &Network) -> bool {
        let up = self.up.lock().unwrap_or_else(|p| p.into_inner());
        up.contains(&n.id) && net::bridge::exists(&n.bridge)
    }

    pub(super) fn mark_up(&self, n: &Network) {
        let mut up = self.up.lock().unwrap_or_else(|p| p.into_inner());
        up.insert(n.id.clone());
    }
}

pub(super) fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn hostname(c: &Container) -> String {
    c.config["Hostname"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(String::from)
        .unwrap_or_else(|| short(&c.id).to_string())
}

/// resolv.conf: `--dns`, `--dns-search`, `--dns-option` over the host's; on a user-defined
/// network the embedded server at the gateway answers (it forwards the rest).
pub(super) fn resolv_for(c: &Container, embedded: Option<Ipv4Addr>) -> Resolv {
    let mut r = Resolv::host_for_container(&host_resolv());
    let dns = strings(&c.host_config["Dns"]);
    if let Some(gw) = embedded {
        r.nameservers = vec![gw.to_string()];
    } else if !dns.is_empty() {
        r.nameservers = dns;
    }
    let search = strings(&c.host_config["DnsSearch"]);
    if !search.is_empty() {
        r.search = search;
    }
    let opts = strings(&c.host_config["DnsOptions"]);
    if !opts.is_empty() {
        r.options = opts;
    }
    r
}

fn etc_mount(dir: &Path, file: &str) -> MountSpec {
    MountSpec {
        source: dir.join(file),
        destination: PathBuf::from("/etc").join(file),
        options: vec![],
    }
}

fn write_etc(
    dir: &Path,
    hosts: &str,
    resolv: &Resolv,
    hostname: &str,
    extras: &mut StartExtras,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    for (file, text) in [
        ("hosts", hosts.to_string()),
        ("resolv.conf", resolv.render()),
        ("hostname", format!("{hostname}\n")),
    ] {
        let p = dir.join(file);
        std::fs::write(&p, text).map_err(io("write", &p))?;
        extras.mounts.push(etc_mount(dir, file));
    }
    Ok(())
}
