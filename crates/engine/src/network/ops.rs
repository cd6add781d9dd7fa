//! The network verbs: create, remove, prune, connect and disconnect.

use super::attach::{mode, new_endpoint, EndpointRequest, Mode};
use super::{find, io, taken, Network, NetworkError, Networks, Result, PREDEFINED};
use net::ipam::{Subnet, Subnet6};
use std::collections::BTreeMap;

/// Docker's `POST /networks/create` body.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateRequest {
    pub name: String,
    pub driver: String,
    pub internal: bool,
    pub attachable: bool,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: Option<bool>,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub options: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    pub driver: String,
    pub config: Option<Vec<IpamConfig>>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    pub subnet: String,
    #[serde(rename = "IPRange")]
    pub ip_range: String,
    pub gateway: String,
}

const BRIDGE_NAME: &str = "com.docker.network.bridge.name";

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl Networks {
    /// A new bridge network, its bridge, rules and DNS server up before it is acknowledged.
    pub fn create(&self, req: &CreateRequest) -> Result<Network> {
        let n = self.plan(req)?;
        let mut all = self.lock();
        if all.values().any(|o| o.name == n.name) {
            return Err(NetworkError::NameInUse(n.name));
        }
        if let Some(o) = all.values().find(|o| o.subnet.overlaps(&n.subnet)) {
            let _ = o;
            return Err(net::ipam::Error::Overlaps.into());
        }
        if all.values().any(|o| o.bridge == n.bridge) || net::bridge::exists(&n.bridge) {
            return Err(NetworkError::Invalid(format!(
                "bridge device {} already exists",
                n.bridge
            )));
        }
        all.insert(n.id.clone(), n.clone());
        let made = self.bring_up(&all, &n).and_then(|()| self.save(&n));
        if let Err(e) = made {
            all.remove(&n.id);
            self.take_down(&n);
            return Err(e);
        }
        self.mark_up(&n);
        self.refresh_firewall(&all);
        Ok(n)
    }

    /// The record a create request describes (checked, not yet made).
    fn plan(&self, req: &CreateRequest) -> Result<Network> {
        if req.name.is_empty() {
            return Err(NetworkError::Invalid("network name is required".into()));
        }
        if !valid_name(&req.name) {
            return Err(NetworkError::Invalid(format!(
                "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                req.name
            )));
        }
        if PREDEFINED.contains(&req.name.as_str()) {
            return Err(NetworkError::Invalid(format!(
                "{} is a pre-defined network and cannot be created",
                req.name
            )));
        }
        if !matches!(req.driver.as_str(), "" | "bridge") {
            return Err(NetworkError::Invalid(format!(
                "network driver {:?} is not supported: tug has bridge networks only",
                req.driver
            )));
        }
        let configs = req.ipam.config.clone().unwrap_or_default();
        let (v6s, v4s): (Vec<IpamConfig>, Vec<IpamConfig>) =
            configs.into_iter().partition(|c| c.subnet.contains(':'));
        if v4s.len() > 1 || v6s.len() > 1 {
            return Err(NetworkError::Invalid(
                "one IPv4 and one IPv6 subnet per network are supported".into(),
            ));
        }
        let enable_ipv6 = req.enable_ipv6 == Some(true);
        if !v6s.is_empty() && !enable_ipv6 {
            return Err(NetworkError::Invalid(
                "an IPv6 subnet needs an IPv6 network: add --ipv6".into(),
            ));
        }
        let (subnet6, gateway6) = if enable_ipv6 {
            self.plan6(v6s.into_iter().next())?
        } else {
            (None, None)
        };
        let cfg = v4s.into_iter().next().unwrap_or_default();
        let user_subnet = !cfg.subnet.is_empty();
        let subnet = if user_subnet {
            cfg.subnet.parse::<Subnet>()?
        } else {
            if !cfg.gateway.is_empty() || !cfg.ip_range.is_empty() {
                return Err(NetworkError::Invalid(
                    "a gateway or ip range needs a subnet (--subnet)".into(),
                ));
            }
            net::ipam::pick_subnet(&taken(&self.lock()), &net::ipam::host_routes())?
        };
        if user_subnet && net::ipam::host_routes().iter().any(|r| r.overlaps(&subnet)) {
            return Err(NetworkError::Invalid(format!(
                "subnet {subnet} overlaps with a route of the host"
            )));
        }
        let gateway = if cfg.gateway.is_empty() {
            subnet.default_gateway()
        } else {
            let gw = net::ipam::parse_ip(&cfg.gateway)?;
            subnet.check("gateway", gw)?;
            gw
        };
        let ip_range = if cfg.ip_range.is_empty() {
            None
        } else {
            let r: Subnet = cfg.ip_range.parse()?;
            subnet.check("ip range", r.addr)?;
            Some(r)
        };
        let id = crate::container::names::new_id();
        let options = req.options.clone().unwrap_or_default();
        let bridge = options
            .get(BRIDGE_NAME)
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        if bridge.is_empty() || bridge.len() > 15 || bridge.contains(['/', ' ']) {
            return Err(NetworkError::Invalid(format!(
                "invalid bridge name {bridge:?}: 1 to 15 characters without '/' or spaces"
            )));
        }
        Ok(Network {
            id,
            name: req.name.clone(),
            created: runtime::util::rfc3339_now(),
            bridge,
            subnet,
            gateway,
            ip_range,
            user_subnet,
            enable_ipv6,
            subnet6,
            gateway6,
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels.clone().unwrap_or_default(),
            options,
            endpoints: BTreeMap::new(),
        })
    }

    /// The IPv6 subnet and gateway of an `--ipv6` network: the configured ones (checked), or
    /// a unique local /64 of its own.
    fn plan6(
        &self,
        cfg: Option<IpamConfig>,
    ) -> Result<(Option<Subnet6>, Option<std::net::Ipv6Addr>)> {
        let taken: Vec<Subnet6> = self.lock().values().filter_map(|n| n.subnet6).collect();
        let routes = net::ipam::host_routes6();
        let cfg = cfg.unwrap_or_default();
        let subnet6 = if cfg.subnet.is_empty() {
            (0u8..=255)
                .map(|i| {
                    Subnet6::ula_from(&format!("{}{i:02x}", crate::container::names::new_id()))
                })
                .find(|s| !taken.iter().chain(&routes).any(|t| t.overlaps(s)))
                .ok_or(net::ipam::Error::NoPool)?
        } else {
            let s6: Subnet6 = cfg.subnet.parse()?;
            if taken.iter().any(|t| t.overlaps(&s6)) {
                return Err(net::ipam::Error::Overlaps.into());
            }
            if routes.iter().any(|r| r.overlaps(&s6)) {
                return Err(NetworkError::Invalid(format!(
                    "subnet {s6} overlaps with a route of the host"
                )));
            }
            s6
        };
        if !cfg.ip_range.is_empty() {
            return Err(NetworkError::Invalid(
                "an IPv6 ip range is not supported by tug: leave out --ip-range for the IPv6 subnet".into(),
            ));
        }
        let gateway6 = if cfg.gateway.is_empty() {
            subnet6.default_gateway()
        } else {
            let gw: std::net::Ipv6Addr = cfg
                .gateway
                .parse()
                .map_err(|_| net::ipam::Error::BadAddress(cfg.gateway.clone()))?;
            subnet6.check("gateway", gw)?;
            gw
        };
        Ok((Some(subnet6), Some(gateway6)))
    }

    /// Bridge, rules and DNS server of a network go (best effort).
    fn take_down(&self, n: &Network) {
        self.dns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&n.id);
        if let Err(e) = self.fw.remove_network(&n.bridge) {
            eprintln!("tug daemon: network {}: {e}", n.name);
        }
        if let Err(e) = net::bridge::delete(&n.bridge) {
            eprintln!("tug daemon: network {}: {e}", n.name);
        }
        self.up
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&n.id);
    }

    /// Remove a network no running container uses.
    pub fn remove(&self, key: &str) -> Result<()> {
        let mut all = self.lock();
        let n = find(&all, key)?.clone();
        if PREDEFINED.contains(&n.name.as_str()) {
            return Err(NetworkError::Predefined(n.name));
        }
        if n.endpoints.values().any(|e| e.active) {
            return Err(NetworkError::ActiveEndpoints {
                name: n.name,
                id: n.id,
            });
        }
        let path = self.dir.join(format!("{}.json", n.id));
        std::fs::remove_file(&path).map_err(super::io("remove", &path))?;
        all.remove(&n.id);
        self.take_down(&n);
        self.refresh_firewall(&all);
        Ok(())
    }

    /// Remove every user-defined network without running containers; their names.
    pub fn prune(&self, keep: impl Fn(&Network) -> bool) -> Vec<String> {
        let candidates: Vec<Network> = self
            .list()
            .into_iter()
            .filter(|n| !PREDEFINED.contains(&n.name.as_str()))
            .filter(|n| !n.endpoints.values().any(|e| e.active))
            .filter(|n| !keep(n))
            .collect();
        candidates
            .into_iter()
            .filter(|n| self.remove(&n.id).is_ok())
            .map(|n| n.name)
            .collect()
    }

    /// Connect a container; a running one is plugged in at once.
    pub fn connect(
        &self,
        key: &str,
        c: &crate::container::Container,
        ep: &serde_json::Value,
    ) -> Result<()> {
        if !matches!(mode(c), Mode::Network(_)) {
            return Err(NetworkError::Invalid(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ));
        }
        let req = EndpointRequest::from_json(ep)?;
        let n = {
            let mut all = self.lock();
            let n = find(&all, key)?.clone();
            let ep = new_endpoint(&n, &c.id, &req).map_err(|e| match e {
                NetworkError::AlreadyConnected { network, .. } => NetworkError::AlreadyConnected {
                    container: c.name.trim_start_matches('/').to_string(),
                    network,
                },
                e => e,
            })?;
            let rec = all.get_mut(&n.id).expect("found above");
            rec.endpoints.insert(c.id.clone(), ep);
            let rec = rec.clone();
            self.save(&rec)?;
            rec
        };
        let ns = self.netns_path(&c.id);
        if c.state.running() && net::netns::exists(&ns) {
            let has_route = self.lock().values().any(|o| {
                o.id != n.id && !o.internal && o.endpoints.get(&c.id).is_some_and(|e| e.active)
            });
            let gw = (!n.internal && !has_route).then_some(n.gateway);
            let has_route6 = self.lock().values().any(|o| {
                o.id != n.id
                    && !o.internal
                    && o.v6().is_some()
                    && o.endpoints.get(&c.id).is_some_and(|e| e.active)
            });
            let gw6 = n
                .v6()
                .map(|(g, _)| g)
                .filter(|_| !n.internal && !has_route6);
            let had_dns = self.lock().values().any(|o| {
                o.id != n.id && !o.is_default() && o.endpoints.get(&c.id).is_some_and(|e| e.active)
            });
            if let Err(e) = self.plug_one(c, &n, &ns, (gw, gw6), None) {
                self.drop_endpoint(&n.id, &c.id);
                return Err(e);
            }
            // A container with no embedded name server yet (it started on the default bridge)
            // gets this network's, as Docker's do: its resolv.conf is rewritten in place (the
            // file is bind-mounted, so the same inode).
            if !n.is_default() && !had_dns {
                let p = self.containers.container_dir(&c.id).join("resolv.conf");
                if p.exists() {
                    let text = super::attach::resolv_for(c, Some(n.gateway)).render();
                    std::fs::write(&p, text).map_err(io("write", &p))?;
                }
            }
        }
        Ok(())
    }

    fn drop_endpoint(&self, nid: &str, cid: &str) {
        let mut all = self.lock();
        if let Some(n) = all.get_mut(nid) {
            n.endpoints.remove(cid);
            let n = n.clone();
            drop(all);
            let _ = self.save(&n);
        }
    }

    /// Disconnect a container: its link on that network goes and its address is freed.
    pub fn disconnect(&self, key: &str, c: &crate::container::Container) -> Result<()> {
        let (n, ep) = {
            let all = self.lock();
            let n = find(&all, key)?.clone();
            let ep = n
                .endpoints
                .get(&c.id)
                .cloned()
                .ok_or_else(|| NetworkError::NotConnected {
                    container: c.name.trim_start_matches('/').to_string(),
                    network: n.name.clone(),
                })?;
            (n, ep)
        };
        net::bridge::detach(&ep.host_veth)?;
        self.drop_endpoint(&n.id, &c.id);
        Ok(())
    }
}
