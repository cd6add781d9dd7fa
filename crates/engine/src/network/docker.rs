//! Docker's JSON shapes: a network (inspect and list) and a container's `NetworkSettings`.

use super::attach::{mode, short, Mode};
use super::{Network, Networks, DEFAULT};
use crate::container::Container;
use serde_json::{json, Value};

/// A stable id for the networks without records ("host", "none").
fn pseudo_id(name: &str) -> String {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex:0<64}")
}

impl Network {
    /// Docker's network object; `names` gives a container id's name.
    pub fn to_docker(&self, names: &dyn Fn(&str) -> Option<String>) -> Value {
        let containers: serde_json::Map<String, Value> = self
            .endpoints
            .iter()
            .filter(|(_, e)| e.active)
            .map(|(cid, e)| {
                (
                    cid.clone(),
                    json!({
                        "Name": names(cid).unwrap_or_default(),
                        "EndpointID": e.id,
                        "MacAddress": net::ipam::mac_string(&net::ipam::mac_for(e.ip)),
                        "IPv4Address": format!("{}/{}", e.ip, self.subnet.prefix),
                        "IPv6Address": match (e.ip6, self.v6()) {
                            (Some(ip6), Some((_, prefix))) => format!("{ip6}/{prefix}"),
                            _ => String::new(),
                        },
                    }),
                )
            })
            .collect();
        let mut ipam =
            json!({"Subnet": self.subnet.to_string(), "Gateway": self.gateway.to_string()});
        if let Some(r) = self.ip_range {
            ipam["IPRange"] = json!(r.to_string());
        }
        let mut configs = vec![ipam];
        if let (Some(s6), Some((gw6, _))) = (self.subnet6, self.v6()) {
            configs.push(json!({"Subnet": s6.to_string(), "Gateway": gw6.to_string()}));
        }
        let mut options = self.options.clone();
        if self.is_default() {
            options.insert("com.docker.network.bridge.name".into(), self.bridge.clone());
            options.insert(
                "com.docker.network.bridge.default_bridge".into(),
                "true".into(),
            );
        }
        json!({
            "Name": self.name, "Id": self.id, "Created": self.created, "Scope": "local",
            "Driver": "bridge", "EnableIPv4": true, "EnableIPv6": self.enable_ipv6,
            "IPAM": {"Driver": "default", "Options": {}, "Config": configs},
            "Internal": self.internal, "Attachable": self.attachable, "Ingress": false,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
            "Containers": containers, "Options": options, "Labels": self.labels,
        })
    }
}

/// "host" and "none" as Docker lists them.
pub fn predefined(name: &str) -> Value {
    json!({
        "Name": name, "Id": pseudo_id(name), "Created": "0001-01-01T00:00:00Z", "Scope": "local",
        "Driver": if name == "host" { "host" } else { "null" }, "EnableIPv4": true,
        "EnableIPv6": false, "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false, "Attachable": false, "Ingress": false, "ConfigFrom": {"Network": ""},
        "ConfigOnly": false, "Containers": {}, "Options": {}, "Labels": {},
    })
}

impl Networks {
    /// Every network as Docker lists it, the predefined ones included.
    pub fn list_docker(&self, names: &dyn Fn(&str) -> Option<String>) -> Vec<Value> {
        let mut v: Vec<Value> = self.list().iter().map(|n| n.to_docker(names)).collect();
        v.push(predefined("host"));
        v.push(predefined("none"));
        v
    }

    /// One network by id, name or id prefix, the predefined ones included.
    pub fn inspect_docker(
        &self,
        key: &str,
        names: &dyn Fn(&str) -> Option<String>,
    ) -> super::Result<Value> {
        if key == "host" || key == "none" || key == pseudo_id("host") || key == pseudo_id("none") {
            let name = if key.starts_with("host") || key == pseudo_id("host") {
                "host"
            } else {
                "none"
            };
            return Ok(predefined(name));
        }
        Ok(self.get(key)?.to_docker(names))
    }

    /// Docker's container-list `Ports`: published and exposed ones while the container
    /// runs, none otherwise (as Docker, whose stopped containers list no ports).
    pub fn list_ports(&self, c: &Container) -> Value {
        if !c.state.running() {
            return json!([]);
        }
        net::ports::list_json(&c.config, &self.published(&c.id))
    }

    /// Inspect's `HostsPath`, `ResolvConfPath` and `HostnamePath`: the host files tug
    /// bind-mounts over /etc (another container's with `--network container:<name>`), ""
    /// before they are written.
    pub fn etc_paths(&self, c: &Container) -> [(&'static str, String); 3] {
        let owner = match mode(c) {
            Mode::Container(other) => self
                .containers
                .get(&other)
                .map(|o| o.id)
                .unwrap_or_default(),
            _ => c.id.clone(),
        };
        let dir = self.containers.container_dir(&owner);
        let path = |f: &str| {
            let p = dir.join(f);
            if !owner.is_empty() && p.exists() {
                p.display().to_string()
            } else {
                String::new()
            }
        };
        [
            ("HostsPath", path("hosts")),
            ("ResolvConfPath", path("resolv.conf")),
            ("HostnamePath", path("hostname")),
        ]
    }

    /// Docker's `NetworkSettings` of a container.
    pub fn settings(&self, c: &Container) -> Value {
        let running = c.state.running();
        let ports = net::ports::settings_json(&c.config, &self.published(&c.id));
        let mut networks = serde_json::Map::new();
        let mut top = json!({});
        match mode(c) {
            Mode::Host | Mode::None => {
                let name = if mode(c) == Mode::Host {
                    "host"
                } else {
                    "none"
                };
                networks.insert(name.into(), endpoint_json(pseudo_id(name), "", None, c));
            }
            Mode::Container(_) => {}
            Mode::Network(_) => {
                for n in self
                    .list()
                    .iter()
                    .filter(|n| n.endpoints.contains_key(&c.id))
                {
                    let e = &n.endpoints[&c.id];
                    let live = running && e.active;
                    let mut v = endpoint_json(n.id.clone(), &e.id, live.then_some((n, e.ip)), c);
                    if let (true, Some(ip6), Some((gw6, prefix))) = (live, e.ip6, n.v6()) {
                        v["IPv6Gateway"] = json!(gw6.to_string());
                        v["GlobalIPv6Address"] = json!(ip6.to_string());
                        v["GlobalIPv6PrefixLen"] = json!(prefix);
                    }
                    v["Aliases"] = json!(e.aliases);
                    if n.name == DEFAULT && live {
                        for k in [
                            "Gateway",
                            "IPAddress",
                            "IPPrefixLen",
                            "MacAddress",
                            "IPv6Gateway",
                            "GlobalIPv6Address",
                            "GlobalIPv6PrefixLen",
                        ] {
                            top[k] = v[k].clone();
                        }
                    }
                    networks.insert(n.name.clone(), v);
                }
            }
        }
        let sandbox = if running && matches!(mode(c), Mode::Network(_)) {
            self.netns_path(&c.id).display().to_string()
        } else {
            String::new()
        };
        let mut s = json!({
            "Bridge": "", "SandboxID": "", "SandboxKey": sandbox, "HairpinMode": false,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "Ports": if running { ports } else { json!({}) },
            "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null, "EndpointID": "",
            "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "", "Networks": networks,
        });
        for (k, v) in top.as_object().into_iter().flatten() {
            s[k] = v.clone();
        }
        s
    }
}

fn endpoint_json(
    network_id: String,
    endpoint_id: &str,
    live: Option<(&Network, std::net::Ipv4Addr)>,
    c: &Container,
) -> Value {
    let (gw, ip, prefix, mac) = match live {
        Some((n, ip)) => (
            n.gateway.to_string(),
            ip.to_string(),
            n.subnet.prefix,
            net::ipam::mac_string(&net::ipam::mac_for(ip)),
        ),
        None => (String::new(), String::new(), 0, String::new()),
    };
    let dns_names = live
        .filter(|(n, _)| !n.is_default())
        .map(|_| json!([c.name.trim_start_matches('/'), short(&c.id)]))
        .unwrap_or(Value::Null);
    json!({
        "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": mac,
        "DriverOpts": null, "GwPriority": 0, "NetworkID": network_id,
        "EndpointID": if live.is_some() { endpoint_id } else { "" },
        "Gateway": gw, "IPAddress": ip, "IPPrefixLen": prefix, "IPv6Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": dns_names,
    })
}
