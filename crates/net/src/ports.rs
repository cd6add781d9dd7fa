//! Published ports: Docker's `PortBindings` / `ExposedPorts` / `PublishAllPorts` turned into a
//! list of host→container forwards, with random host ports chosen for `-p 80` and `-P`.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("invalid port specification: {0:?}")]
    BadPort(String),
    #[error("invalid protocol {0:?}: want tcp, udp or sctp")]
    BadProto(String),
    #[error("invalid host IP {0:?}")]
    BadHostIp(String),
    #[error("no free host port for {0}")]
    NoFreePort(String),
}

/// One forward: `host_ip:host_port/proto` → the container's `container_port/proto`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub proto: String,
    pub container_port: u16,
    /// Unspecified (0.0.0.0) means every host address.
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
}

impl Published {
    /// Docker's key: "80/tcp".
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.proto)
    }
}

/// "80/tcp" → (80, "tcp"); "80" means tcp.
pub fn parse_key(key: &str) -> Result<(u16, String), Error> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(Error::BadProto(proto));
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::BadPort(key.to_string()))?;
    Ok((port, proto))
}

/// One requested binding, before random ports are chosen: host port 0 means "any free one".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub proto: String,
    pub container_port: u16,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
}

/// The requests in a `HostConfig` (`PortBindings`, and with `PublishAllPorts` every port of
/// `Config.ExposedPorts` not bound explicitly).
pub fn requests(
    host_config: &serde_json::Value,
    config: &serde_json::Value,
) -> Result<Vec<Request>, Error> {
    let mut out = Vec::new();
    let bindings = host_config["PortBindings"].as_object().cloned();
    for (key, list) in bindings.iter().flatten() {
        let (container_port, proto) = parse_key(key)?;
        let list = list.as_array().cloned().unwrap_or_default();
        let list = if list.is_empty() {
            vec![serde_json::json!({})]
        } else {
            list
        };
        for b in list {
            let ip = b["HostIp"].as_str().unwrap_or("");
            let host_ip = if ip.is_empty() {
                Ipv4Addr::UNSPECIFIED
            } else {
                ip.parse().map_err(|_| Error::BadHostIp(ip.to_string()))?
            };
            let hp = b["HostPort"].as_str().unwrap_or("");
            // A range "8000-8010" for one port takes the first free one; tug takes its start.
            let hp = hp.split('-').next().unwrap_or("");
            let host_port = if hp.is_empty() {
                0
            } else {
                hp.parse()
                    .map_err(|_| Error::BadPort(format!("{hp}:{key}")))?
            };
            out.push(Request {
                proto: proto.clone(),
                container_port,
                host_ip,
                host_port,
            });
        }
    }
    if host_config["PublishAllPorts"].as_bool().unwrap_or(false) {
        for key in config["ExposedPorts"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            let (container_port, proto) = parse_key(key)?;
            if !out
                .iter()
                .any(|r| r.container_port == container_port && r.proto == proto)
            {
                out.push(Request {
                    proto,
                    container_port,
                    host_ip: Ipv4Addr::UNSPECIFIED,
                    host_port: 0,
                });
            }
        }
    }
    Ok(out)
}

/// Choose host ports for requests that left them open: the first free port (for that
/// protocol, on every address) from Docker's ephemeral range, skipping `taken`.
pub fn resolve(requests: &[Request], taken: &[u16]) -> Result<Vec<Published>, Error> {
    let mut used: Vec<u16> = taken.to_vec();
    used.extend(requests.iter().map(|r| r.host_port).filter(|p| *p != 0));
    let mut next = 49153u32 + (std::process::id() % 4096);
    requests
        .iter()
        .map(|r| {
            let host_port = if r.host_port != 0 {
                r.host_port
            } else {
                let p = free_port(&r.proto, &mut next, &used).ok_or_else(|| {
                    Error::NoFreePort(format!("{}/{}", r.container_port, r.proto))
                })?;
                used.push(p);
                p
            };
            Ok(Published {
                proto: r.proto.clone(),
                container_port: r.container_port,
                host_ip: r.host_ip,
                host_port,
            })
        })
        .collect()
}

fn free_port(proto: &str, next: &mut u32, used: &[u16]) -> Option<u16> {
    for _ in 0..16384 {
        let p = *next as u16;
        *next = if *next >= 65535 { 49153 } else { *next + 1 };
        if used.contains(&p) {
            continue;
        }
        let free = match proto {
            "udp" => std::net::UdpSocket::bind(("0.0.0.0", p)).is_ok(),
            _ => std::net::TcpListener::bind(("0.0.0.0", p)).is_ok(),
        };
        if free {
            return Some(p);
        }
    }
    None
}

/// Docker's `NetworkSettings.Ports`: every exposed or published port, with its bindings
/// (null when exposed only).
pub fn settings_json(config: &serde_json::Value, published: &[Published]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for key in config["ExposedPorts"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
    {
        m.insert(key.clone(), serde_json::Value::Null);
    }
    for p in published {
        let entry = m.entry(p.key()).or_insert(serde_json::json!([]));
        if entry.is_null() {
            *entry = serde_json::json!([]);
        }
        if let Some(list) = entry.as_array_mut() {
            list.push(serde_json::json!({
                "HostIp": p.host_ip.to_string(),
                "HostPort": p.host_port.to_string(),
            }));
        }
    }
    serde_json::Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bindings_exposed_ports_and_publish_all() {
        let hc = json!({
            "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                             "53/udp": [{"HostIp": "", "HostPort": ""}]},
            "PublishAllPorts": true
        });
        let cfg = json!({"ExposedPorts": {"80/tcp": {}, "443/tcp": {}}});
        let r = requests(&hc, &cfg).unwrap();
        assert_eq!(r.len(), 3);
        assert!(r.contains(&Request {
            proto: "tcp".into(),
            container_port: 80,
            host_ip: "127.0.0.1".parse().unwrap(),
            host_port: 8080
        }));
        let p = resolve(&r, &[]).unwrap();
        assert!(p.iter().all(|p| p.host_port != 0));
        let s = settings_json(&cfg, &p);
        assert_eq!(s["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(s["80/tcp"][0]["HostIp"], "127.0.0.1");
        assert!(
            s["443/tcp"][0]["HostPort"]
                .as_str()
                .unwrap()
                .parse::<u16>()
                .unwrap()
                >= 49153
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(parse_key("80/xyz"), Err(Error::BadProto("xyz".into())));
        assert_eq!(parse_key("0/tcp"), Err(Error::BadPort("0/tcp".into())));
        assert_eq!(parse_key("53/UDP"), Ok((53, "udp".into())));
    }
}
