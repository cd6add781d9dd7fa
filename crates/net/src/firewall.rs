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
    #[error("run {tool}: {err}")]
    SpawnTool {
        tool: &'static str,
        err: std::io::Error,
    },
    #[error("{tool} {what}: {stderr}")]
    Iptables {
        tool: &'static str,
        what: String,
        stderr: String,
    },
    #[error("unknown firewall driver {0:?} in $TUG_FIREWALL: want nftables, iptables or none")]
    UnknownDriver(String),
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

/// The driver for this host: `$TUG_FIREWALL` (nftables, iptables or none) when set, else
/// nftables when the `nft` tool is there, else iptables when that is, else none.
pub fn detect() -> Result<Box<dyn Firewall>> {
    let has = |tool: &str| {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| std::path::Path::new(d).join(tool).exists())
    };
    let driver = match std::env::var("TUG_FIREWALL") {
        Ok(v) if !v.is_empty() => v,
        _ if has("nft") => "nftables".into(),
        _ if has("iptables") => "iptables".into(),
        _ => "none".into(),
    };
    Ok(match driver.as_str() {
        "nftables" | "nft" => Box::new(Nftables),
        "iptables" => Box::new(Iptables),
        "none" => Box::new(NoFirewall),
        other => return Err(Error::UnknownDriver(other.to_string())),
    })
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

/// The iptables driver, for hosts without nftables: per network a chain in the nat table
/// (`TUGN-<bridge>`, jumped to from POSTROUTING) and one in the filter table (`TUGF-<bridge>`,
/// from FORWARD), for IPv6 networks the same with ip6tables; per container with published
/// ports a nat chain (`TUGP-<id>`, from PREROUTING and OUTPUT). A chain's contents are
/// replaced in one `iptables-restore --noflush`; teardown removes the jumps and the chains.
pub struct Iptables;

pub fn iptables_network_chains(
    bridge: &str,
) -> [(&'static str, String, &'static [&'static str]); 2] {
    [
        ("nat", format!("TUGN-{}", ident(bridge)), &["POSTROUTING"]),
        ("filter", format!("TUGF-{}", ident(bridge)), &["FORWARD"]),
    ]
}

pub fn iptables_ports_chain(id: &str) -> String {
    format!("TUGP-{}", ident(id))
}

/// The iptables-restore input for a network, for one family (`ip`: iptables, `ip6`:
/// ip6tables) and its subnet.
pub fn render_iptables_network(n: &NetworkRules, family: &str, net: &str) -> String {
    let br = &n.bridge;
    let [(_, nat, _), (_, filter, _)] = iptables_network_chains(br);
    let mut out = format!("*nat\n:{nat} - [0:0]\n");
    if !n.internal {
        out += &format!("-A {nat} -s {net} ! -o {br} -j MASQUERADE\n");
    }
    if family == "ip" {
        out += &format!("-A {nat} -s 127.0.0.0/8 -o {br} -j MASQUERADE\n");
    }
    out += &format!("-A {nat} -s {net} -o {br} -m conntrack --ctstate DNAT -j MASQUERADE\n");
    out += &format!("COMMIT\n*filter\n:{filter} - [0:0]\n");
    // Published ports are reachable from every network: such connections skip the drops
    // (RETURN, not ACCEPT, so the host's own FORWARD rules still see them).
    out += &format!("-A {filter} -m conntrack --ctstate DNAT -j RETURN\n");
    if n.internal {
        out += &format!("-A {filter} -i {br} ! -o {br} -j DROP\n");
        out += &format!("-A {filter} -o {br} ! -i {br} -j DROP\n");
    }
    for o in &n.others {
        out += &format!("-A {filter} -i {br} -o {o} -j DROP\n");
    }
    out + "COMMIT\n"
}

/// The iptables-restore input for one container's published ports.
pub fn render_iptables_ports(p: &PortRules) -> String {
    let chain = iptables_ports_chain(&p.id);
    let mut out = format!("*nat\n:{chain} - [0:0]\n");
    for port in &p.ports {
        let dst = if port.host_ip.is_unspecified() {
            "-m addrtype --dst-type LOCAL".to_string()
        } else {
            format!("-d {}/32", port.host_ip)
        };
        out += &format!(
            "-A {chain} -p {proto} --dport {hp} {dst} -j DNAT --to-destination {ip}:{cp}\n",
            proto = port.proto,
            hp = port.host_port,
            ip = p.container_ip,
            cp = port.container_port
        );
    }
    out + "COMMIT\n"
}

fn iptables_tool(family: &str) -> &'static str {
    if family == "ip6" {
        "ip6tables"
    } else {
        "iptables"
    }
}

/// Run `tool args`; its stderr on failure.
fn run_tool(
    tool: &'static str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<std::result::Result<(), String>> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| Error::SpawnTool { tool, err })?;
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        input
            .write_all(text.as_bytes())
            .map_err(|err| Error::SpawnTool { tool, err })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|err| Error::SpawnTool { tool, err })?;
    Ok(if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    })
}

impl Iptables {
    /// Replace the chains `script` declares, then jump to `chain` from each of `parents`
    /// (once).
    fn apply(
        &self,
        family: &str,
        script: &str,
        jumps: &[(&str, &str, &[&str])],
        what: &str,
    ) -> Result<()> {
        let restore = if family == "ip6" {
            "ip6tables-restore"
        } else {
            "iptables-restore"
        };
        let fail = |tool: &'static str, stderr: String| Error::Iptables {
            tool,
            what: what.to_string(),
            stderr,
        };
        run_tool(restore, &["-w", "--noflush"], Some(script))?.map_err(|e| fail(restore, e))?;
        let tool = iptables_tool(family);
        for (table, chain, parents) in jumps {
            for parent in *parents {
                let rule = ["-w", "-t", table, "-C", parent, "-j", chain];
                if run_tool(tool, &rule, None)?.is_err() {
                    let insert = ["-w", "-t", table, "-I", parent, "-j", chain];
                    run_tool(tool, &insert, None)?.map_err(|e| fail(tool, e))?;
                }
            }
        }
        Ok(())
    }

    /// Remove the jumps to `chain` and the chain itself; a chain already gone is fine.
    fn remove(&self, family: &str, table: &str, chain: &str, parents: &[&str]) -> Result<()> {
        let tool = iptables_tool(family);
        let exists = run_tool(tool, &["-w", "-t", table, "-S", chain], None)?.is_ok();
        if !exists {
            return Ok(());
        }
        for parent in parents {
            // Every jump there, however many an earlier crash left.
            for _ in 0..16 {
                let del = ["-w", "-t", table, "-D", parent, "-j", chain];
                if run_tool(tool, &del, None)?.is_err() {
                    break;
                }
            }
        }
        for op in ["-F", "-X"] {
            run_tool(tool, &["-w", "-t", table, op, chain], None)?.map_err(|stderr| {
                Error::Iptables {
                    tool,
                    what: format!("remove chain {chain}"),
                    stderr,
                }
            })?;
        }
        Ok(())
    }

    fn remove_network_family(&self, family: &str, bridge: &str) -> Result<()> {
        for (table, chain, parents) in iptables_network_chains(bridge) {
            self.remove(family, table, &chain, parents)?;
        }
        Ok(())
    }
}

impl Firewall for Iptables {
    fn name(&self) -> &'static str {
        "iptables"
    }
    fn apply_network(&self, n: &NetworkRules) -> Result<()> {
        let what = format!("rules of bridge {}", n.bridge);
        let chains = iptables_network_chains(&n.bridge);
        let jumps: Vec<(&str, &str, &[&str])> = chains
            .iter()
            .map(|(t, c, p)| (*t, c.as_str(), *p))
            .collect();
        let v4 = render_iptables_network(n, "ip", &n.subnet.to_string());
        self.apply("ip", &v4, &jumps, &what)?;
        match n.subnet6 {
            Some(s6) => {
                let v6 = render_iptables_network(n, "ip6", &s6.to_string());
                self.apply("ip6", &v6, &jumps, &what)
            }
            None => self.remove_network_family("ip6", &n.bridge),
        }
    }
    fn remove_network(&self, bridge: &str) -> Result<()> {
        self.remove_network_family("ip", bridge)?;
        // Hosts without IPv6 netfilter have nothing to remove there.
        match self.remove_network_family("ip6", bridge) {
            Err(Error::SpawnTool { .. }) => Ok(()),
            r => r,
        }
    }
    fn apply_ports(&self, p: &PortRules) -> Result<()> {
        let chain = iptables_ports_chain(&p.id);
        let parents: &[&str] = &["PREROUTING", "OUTPUT"];
        self.apply(
            "ip",
            &render_iptables_ports(p),
            &[("nat", &chain, parents)],
            &format!("published ports of {}", p.id),
        )
    }
    fn remove_ports(&self, id: &str) -> Result<()> {
        self.remove(
            "ip",
            "nat",
            &iptables_ports_chain(id),
            &["PREROUTING", "OUTPUT"],
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
            ..n.clone()
        };
        check_golden("network-internal.nft", &render_network(&internal));
        let dual = NetworkRules {
            subnet6: Some("fd00:77::/64".parse().unwrap()),
            ..internal
        };
        check_golden("network-ipv6.nft", &render_network(&dual));
        let ipt = render_iptables_network(&n, "ip", "10.77.0.0/24")
            + &render_iptables_network(&dual, "ip6", "fd00:77::/64");
        check_golden("network.iptables", &ipt);
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
        check_golden("ports.iptables", &render_iptables_ports(&p));
    }
}
