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
    /// Another container publishes it, or a host process listens on it.
    #[error("Bind for {0} failed: port is already allocated")]
    Allocated(String),
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

/// One requested binding, before host ports are chosen: host port 0 means "any free one";
/// a range `host_port..=host_port_end` means the first free one in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub proto: String,
    pub container_port: u16,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    /// The end of the host range (equal to `host_port` for one port, 0 for any).
    pub host_port_end: u16,
}

/// A `HostPort`: "" (any), "8080", or a range "8000-8010" to pick one from.
fn parse_host_port(hp: &str, key: &str) -> Result<(u16, u16), Error> {
    let hp = hp.trim();
    if hp.is_empty() {
        return Ok((0, 0));
    }
    let bad = || Error::BadPort(format!("{hp}:{key}"));
    let (a, b) = hp.split_once('-').unwrap_or((hp, hp));
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if b < a || (a == 0 && b != 0) {
        return Err(bad());
    }
    Ok((a, b))
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
            let (host_port, host_port_end) =
                parse_host_port(b["HostPort"].as_str().unwrap_or(""), key)?;
            out.push(Request {
                proto: proto.clone(),
                container_port,
                host_ip,
                host_port,
                host_port_end,
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
                    host_port_end: 0,
                });
            }
        }
    }
    Ok(out)
}

/// Whether two bindings would catch the same packets: same protocol and port, and one
/// address is the other or every address.
fn clash(proto: &str, ip: Ipv4Addr, port: u16, p: &Published) -> bool {
    p.proto == proto
        && p.host_port == port
        && (ip == p.host_ip || ip.is_unspecified() || p.host_ip.is_unspecified())
}

/// Whether a host process holds `ip:port` (a probe bind that is closed at once).
fn bindable(proto: &str, ip: Ipv4Addr, port: u16) -> bool {
    let r = match proto {
        "udp" => std::net::UdpSocket::bind((ip, port)).map(drop),
        _ => std::net::TcpListener::bind((ip, port)).map(drop),
    };
    // Only a port in use counts: an address the host lacks is the firewall's business.
    !matches!(r, Err(e) if e.kind() == std::io::ErrorKind::AddrInUse)
}

/// Choose host ports: fixed ones are checked against `taken` (other containers' bindings)
/// and the host's sockets, a range takes its first free port, and an open one the first
/// free port of Docker's ephemeral range.
pub fn resolve(requests: &[Request], taken: &[Published]) -> Result<Vec<Published>, Error> {
    let mut used: Vec<Published> = taken.to_vec();
    let mut next = 49153u32 + (std::process::id() % 4096);
    let mut out = Vec::with_capacity(requests.len());
    for r in requests {
        let free = |port: u16, used: &[Published]| {
            !used.iter().any(|p| clash(&r.proto, r.host_ip, port, p))
                && bindable(&r.proto, r.host_ip, port)
        };
        let host_port = if r.host_port == 0 {
            free_port(&r.proto, &mut next, &used)
                .ok_or_else(|| Error::NoFreePort(format!("{}/{}", r.container_port, r.proto)))?
        } else {
            let end = r.host_port_end.max(r.host_port);
            (r.host_port..=end)
                .find(|p| free(*p, &used))
                .ok_or_else(|| {
                    let ports = if end == r.host_port {
                        r.host_port.to_string()
                    } else {
                        format!("{}-{end}", r.host_port)
                    };
                    Error::Allocated(format!("{}:{ports}", r.host_ip))
                })?
        };
        let p = Published {
            proto: r.proto.clone(),
            container_port: r.container_port,
            host_ip: r.host_ip,
            host_port,
        };
        used.push(p.clone());
        out.push(p);
    }
    Ok(out)
}

fn free_port(proto: &str, next: &mut u32, used: &[Published]) -> Option<u16> {
    for _ in 0..16384 {
        let p = *next as u16;
        *next = if *next >= 65535 { 49153 } else { *next + 1 };
        if used.iter().any(|u| u.proto == proto && u.host_port == p) {
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

/// Docker's container-list `Ports`: one entry per published binding, and the exposed
/// ports nothing publishes without an address or public port.
pub fn list_json(config: &serde_json::Value, published: &[Published]) -> serde_json::Value {
    let mut out: Vec<serde_json::Value> = published
        .iter()
        .map(|p| {
            serde_json::json!({
                "IP": p.host_ip.to_string(), "PrivatePort": p.container_port,
                "PublicPort": p.host_port, "Type": p.proto,
            })
        })
        .collect();
    for key in config["ExposedPorts"].as_object().into_iter().flatten() {
        let Ok((port, proto)) = parse_key(key.0) else {
            continue;
        };
        if !published
            .iter()
            .any(|p| p.container_port == port && p.proto == proto)
        {
            out.push(serde_json::json!({"PrivatePort": port, "Type": proto}));
        }
    }
    serde_json::Value::Array(out)
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
            host_port: 8080,
            host_port_end: 8080,
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

    fn req(ip: &str, a: u16, b: u16) -> Request {
        Request {
            proto: "tcp".into(),
            container_port: 80,
            host_ip: ip.parse().unwrap(),
            host_port: a,
            host_port_end: b,
        }
    }

    #[test]
    fn host_ranges_take_the_first_free_port() {
        let hc = json!({"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8000-8010"}]}});
        let r = requests(&hc, &json!({})).unwrap();
        assert_eq!((r[0].host_port, r[0].host_port_end), (8000, 8010));
        let bad = json!({"PortBindings": {"80/tcp": [{"HostPort": "9-3"}]}});
        assert!(matches!(requests(&bad, &json!({})), Err(Error::BadPort(_))));

        // A host process on the range's first port, another container on the second.
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = held.local_addr().unwrap().port();
        let other = Published {
            proto: "tcp".into(),
            container_port: 1,
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: a + 1,
        };
        let got = resolve(&[req("127.0.0.1", a, a + 2)], &[other.clone()]).unwrap();
        assert_eq!(got[0].host_port, a + 2);
        // Two requests for one range in one container get different ports.
        let got = resolve(
            &[
                req("127.0.0.1", a + 2, a + 3),
                req("127.0.0.1", a + 2, a + 3),
            ],
            &[],
        )
        .unwrap();
        assert_eq!((got[0].host_port, got[1].host_port), (a + 2, a + 3));
        // A fixed port that is taken is refused with Docker's words.
        let e = resolve(&[req("0.0.0.0", a + 1, a + 1)], &[other]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "Bind for 0.0.0.0:{} failed: port is already allocated",
                a + 1
            )
        );
        let e = resolve(&[req("127.0.0.1", a, a)], &[]).unwrap_err();
        assert!(matches!(e, Error::Allocated(_)), "{e}");
        // The same port on another protocol, or on another address, is fine.
        let udp = Request {
            proto: "udp".into(),
            ..req("127.0.0.1", a + 1, a + 1)
        };
        let mine = Published {
            host_ip: "127.0.0.2".parse().unwrap(),
            ..resolve(&[req("127.0.0.1", a + 1, a + 1)], &[]).unwrap()[0].clone()
        };
        assert!(resolve(&[udp], &[mine.clone()]).is_ok());
        assert!(resolve(&[req("127.0.0.1", a + 1, a + 1)], &[mine]).is_ok());
    }

    #[test]
    fn list_ports_as_docker_ps_reads_them() {
        let cfg = json!({"ExposedPorts": {"80/tcp": {}, "53/udp": {}}});
        let p = vec![Published {
            proto: "tcp".into(),
            container_port: 80,
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
        }];
        assert_eq!(
            list_json(&cfg, &p),
            json!([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                   {"PrivatePort": 53, "Type": "udp"}])
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(parse_key("80/xyz"), Err(Error::BadProto("xyz".into())));
        assert_eq!(parse_key("0/tcp"), Err(Error::BadPort("0/tcp".into())));
        assert_eq!(parse_key("53/UDP"), Ok((53, "udp".into())));
    }
}
