//! Firewall rules behind a driver trait: outbound masquerade, isolation between networks,
//! `--internal`, and published ports (DNAT from the host's addresses and its loopback, with
//! hairpin). The nftables driver keeps one table per network (`tug_<bridge>`) and one per
//! container with published ports (`tugp_<id>`), so setup and teardown replace or delete a
//! whole table in one atomic `nft -f` transaction and never touch anybody else's rules.

use crate::ipam::{Subnet, Subnet6};
use crate::ports::Published;
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("run nft: {0}")]
    Spawn(std::io::Error),
    #[error("nft {what}: {stderr}")]
    Nft { what: String, stderr: String },
}

pub type Result<T> = std::result::Result<T, Error>;

/// What one network needs.
#[derive(Debug, Clone)]
pub struct NetworkRules {
    pub bridge: String,
    pub subnet: Subnet,
    /// The IPv6 subnet of an IPv6 network.
    pub subnet6: Option<Subnet6>,
    pub internal: bool,
    /// The bridges of the daemon's other networks, isolated from this one.
    pub others: Vec<String>,
}

/// One container's published ports.
#[derive(Debug, Clone)]
pub struct PortRules {
    /// A short, unique key (the container's short id).
    pub id: String,
    pub container_ip: Ipv4Addr,
    pub ports: Vec<Published>,
}

pub trait Firewall: Send + Sync {
    fn name(&self) -> &'static str;
    /// Create or replace a network's rules.
    fn apply_network(&self, n: &NetworkRules) -> Result<()>;
    /// Remove a network's rules; nothing there is fine.
    fn remove_network(&self, bridge: &str) -> Result<()>;
    fn apply_ports(&self, p: &PortRules) -> Result<()>;
    fn remove_ports(&self, id: &str) -> Result<()>;
}

/// The driver for this host: nftables when the `nft` tool is there, else none.
pub fn detect() -> Box<dyn Firewall> {
    let has_nft = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
        .iter()
        .any(|p| std::path::Path::new(p).exists());
    if has_nft {
        Box::new(Nftables)
    } else {
        Box::new(NoFirewall)
    }
}

/// Rules nowhere: containers still reach each other on a bridge, but nothing is published
/// or masqueraded.
pub struct NoFirewall;

impl Firewall for NoFirewall {
    fn name(&self) -> &'static str {
        "none"
    }
    fn apply_network(&self, _: &NetworkRules) -> Result<()> {
        Ok(())
    }
    fn remove_network(&self, _: &str) -> Result<()> {
        Ok(())
    }
    fn apply_ports(&self, _: &PortRules) -> Result<()> {
        Ok(())
    }
    fn remove_ports(&self, _: &str) -> Result<()> {
        Ok(())
    }
}

pub struct Nftables;

fn ident(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

pub fn network_table(bridge: &str) -> String {
    format!("tug_{}", ident(bridge))
}

/// The `ip6` table of an IPv6 network.
pub fn network_table6(bridge: &str) -> String {
    format!("tug6_{}", ident(bridge))
}

pub fn ports_table(id: &str) -> String {
    format!("tugp_{}", ident(id))
}

/// A script that (re)creates `table ip <name>` with `body` in one transaction.
fn replace_table(name: &str, body: &str) -> String {
    replace_family_table("ip", name, body)
}

fn replace_family_table(family: &str, name: &str, body: &str) -> String {
    format!(
        "table {family} {name}\ndelete table {family} {name}\ntable {family} {name} {{\n{body}}}\n"
    )
}

fn delete_table(name: &str) -> String {
    delete_family_table("ip", name)
}

/// Declaring a table before deleting it makes the deletion of a missing one a no-op.
fn delete_family_table(family: &str, name: &str) -> String {
    format!("table {family} {name}\ndelete table {family} {name}\n")
}

/// The nftables script for a network: its `ip` table, and its `ip6` table on an IPv6
/// network (removed otherwise), in one transaction.
pub fn render_network(n: &NetworkRules) -> String {
    let v4 = replace_table(
        &network_table(&n.bridge),
        &network_body(n, "ip", &n.subnet.to_string()),
    );
    let v6 = match n.subnet6 {
        Some(s6) => replace_family_table(
            "ip6",
            &network_table6(&n.bridge),
            &network_body(n, "ip6", &s6.to_string()),
        ),
        None => delete_family_table("ip6", &network_table6(&n.bridge)),
    };
    v4 + &v6
}

/// The chains of a network's table for one address family (`ip` or `ip6`).
fn network_body(n: &NetworkRules, family: &str, net: &str) -> String {
    let br = &n.bridge;
    let mut post = String::new();
    if !n.internal {
        post += &format!("\t\t{family} saddr {net} oifname != \"{br}\" masquerade\n");
    }
    if family == "ip" {
        post += &format!("\t\toifname \"{br}\" ip saddr 127.0.0.0/8 masquerade\n");
    }
    post += &format!("\t\toifname \"{br}\" {family} saddr {net} ct status dnat masquerade\n");
    let mut fwd = String::new();
    // Published ports are reachable from every network (both directions of the connection).
    fwd += "\t\tct status dnat accept\n";
    if n.internal {
        fwd += &format!("\t\tiifname \"{br}\" oifname != \"{br}\" drop\n");
        fwd += &format!("\t\toifname \"{br}\" iifname != \"{br}\" drop\n");
    }
    if !n.others.is_empty() {
        let set = n
            .others
            .iter()
            .map(|o| format!("\"{o}\""))
            .collect::<Vec<_>>()
            .join(", ");
        fwd += &format!("\t\tiifname \"{br}\" oifname {{ {set} }} drop\n");
    }
    format!(
        "\tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n{post}\t}}\n\
         \tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n{fwd}\t}}\n"
    )
}

/// The nftables script for one container's published ports.
pub fn render_ports(p: &PortRules) -> String {
    let mut rules = String::new();
    for port in &p.ports {
        let dst = if port.host_ip.is_unspecified() {
            "fib daddr type local".to_string()
        } else {
            format!("ip daddr {}", port.host_ip)
        };
        rules += &format!(
            "\t\t{dst} {proto} dport {hp} dnat to {ip}:{cp}\n",
            proto = port.proto,
            hp = port.host_port,
            ip = p.container_ip,
            cp = port.container_port
        );
    }
    let body = format!(
        "\tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n{rules}\t}}\n\
         \tchain output {{\n\t\ttype nat hook output priority -100; policy accept;\n{rules}\t}}\n"
    );
    replace_table(&ports_table(&p.id), &body)
}

fn nft(script: &str, what: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).map_err(Error::Spawn)?;
    }
    let out = child.wait_with_output().map_err(Error::Spawn)?;
    if !out.status.success() {
        return Err(Error::Nft {
            what: what.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

impl Firewall for Nftables {
    fn name(&self) -> &'static str {
        "nftables"
    }
    fn apply_network(&self, n: &NetworkRules) -> Result<()> {
        nft(&render_network(n), &format!("rules of bridge {}", n.bridge))
    }
    fn remove_network(&self, bridge: &str) -> Result<()> {
        let script = delete_table(&network_table(bridge))
            + &delete_family_table("ip6", &network_table6(bridge));
        nft(&script, &format!("remove rules of bridge {bridge}"))
    }
    fn apply_ports(&self, p: &PortRules) -> Result<()> {
        nft(&render_ports(p), &format!("published ports of {}", p.id))
    }
    fn remove_ports(&self, id: &str) -> Result<()> {
        nft(
            &delete_table(&ports_table(id)),
            &format!("remove published ports of {id}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_golden(name: &str, got: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, got).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing {}: run with UPDATE_GOLDEN=1", path.display()));
        assert_eq!(got, want, "{name} differs from its golden file");
    }

    #[test]
    fn network_rules_match_golden() {
        let n = NetworkRules {
            bridge: "br-abc".into(),
            subnet: "10.77.0.0/24".parse().unwrap(),
            subnet6: None,
            internal: false,
            others: vec!["tug0".into()],
        };
        check_golden("network.nft", &render_network(&n));
        let internal = NetworkRules {
            internal: true,
            others: vec![],
            ..n
        };
        check_golden("network-internal.nft", &render_network(&internal));
        let dual = NetworkRules {
            subnet6: Some("fd00:77::/64".parse().unwrap()),
            ..internal
        };
        check_golden("network-ipv6.nft", &render_network(&dual));
    }

    #[test]
    fn port_rules_match_golden() {
        let p = PortRules {
            id: "0123456789ab".into(),
            container_ip: "10.77.0.2".parse().unwrap(),
            ports: vec![
                Published {
                    proto: "tcp".into(),
                    container_port: 80,
                    host_ip: Ipv4Addr::UNSPECIFIED,
                    host_port: 8080,
                },
                Published {
                    proto: "udp".into(),
                    container_port: 53,
                    host_ip: "127.0.0.1".parse().unwrap(),
                    host_port: 5353,
                },
            ],
        };
        check_golden("ports.nft", &render_ports(&p));
    }
}
