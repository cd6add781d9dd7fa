//! `tug network create|ls|inspect|rm|prune|connect|disconnect` and `tug port`: docker's flags
//! and output over the daemon's Engine API.

use crate::client::{enc, fail, Client, Fail, Result};
use crate::commands::out;
use crate::format::{self, Template};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::io::Read;

#[derive(Args)]
pub struct NetworkCli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Args)]
struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment (one IPv4, one IPv6)
    #[arg(long)]
    subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long)]
    ip_range: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Enable IPv6 networking
    #[arg(long)]
    ipv6: bool,
    /// Enable manual container attachment
    #[arg(long)]
    attachable: bool,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    opt: Vec<String>,
    /// Set metadata on a network
    #[arg(long)]
    label: Vec<String>,
    name: String,
}

#[derive(Args)]
struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate the output
    #[arg(long)]
    no_trunc: bool,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a Go template
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args)]
struct InspectArgs {
    /// Format output using a Go template
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    networks: Vec<String>,
}

#[derive(Args)]
struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    networks: Vec<String>,
}

#[derive(Args)]
struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long)]
    filter: Vec<String>,
}

#[derive(Args)]
struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    ip: Option<String>,
    network: String,
    container: String,
}

#[derive(Args)]
struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    force: bool,
    network: String,
    container: String,
}

#[derive(Args)]
pub struct PortArgs {
    container: String,
    /// PRIVATE_PORT[/PROTO]
    port: Option<String>,
}

pub fn main(host: Option<&str>, a: NetworkCli) -> i32 {
    super::images::run(host, |c| match a.verb {
        Verb::Create(a) => create(c, a),
        Verb::Ls(a) => ls(c, a),
        Verb::Inspect(a) => inspect(c, a),
        Verb::Rm(a) => rm(c, a),
        Verb::Prune(a) => prune(c, a),
        Verb::Connect(a) => connect(c, a),
        Verb::Disconnect(a) => disconnect(c, a),
    })
}

fn key_values(list: &[String], what: &str) -> Result<serde_json::Map<String, Value>> {
    let mut m = serde_json::Map::new();
    for kv in list {
        match kv.split_once('=') {
            Some((k, v)) => m.insert(k.to_string(), json!(v)),
            None if what == "label" => m.insert(kv.clone(), json!("")),
            None => return fail(format!("invalid {what} {kv:?}: want key=value")),
        };
    }
    Ok(m)
}

fn create(c: &Client, a: CreateArgs) -> Result<()> {
    // Gateways and ranges go with the subnet of their address family, as Docker pairs them.
    let v6 = |s: &String| s.contains(':');
    for (what, list) in [("gateway", &a.gateway), ("ip-range", &a.ip_range)] {
        if let Some(x) = list
            .iter()
            .find(|x| !a.subnet.iter().any(|s| v6(s) == v6(x)))
        {
            return fail(format!("no matching subnet for {what} {x}"));
        }
    }
    let config: Vec<Value> = a
        .subnet
        .iter()
        .map(|s| {
            let mut ipam = json!({"Subnet": s});
            if let Some(g) = a.gateway.iter().find(|g| v6(g) == v6(s)) {
                ipam["Gateway"] = json!(g);
            }
            if let Some(r) = a.ip_range.iter().find(|r| v6(r) == v6(s)) {
                ipam["IPRange"] = json!(r);
            }
            ipam
        })
        .collect();
    let body = json!({
        "Name": a.name, "Driver": a.driver, "Internal": a.internal,
        "EnableIPv6": a.ipv6, "Attachable": a.attachable,
        "IPAM": {"Driver": "default", "Config": config},
        "Options": key_values(&a.opt, "option")?, "Labels": key_values(&a.label, "label")?,
    });
    let r = c.post_json("/networks/create", &body)?;
    out(&format!("{}\n", r["Id"].as_str().unwrap_or("")))
}

fn filters_json(list: &[String]) -> Result<String> {
    let mut m: serde_json::Map<String, Value> = serde_json::Map::new();
    for f in list {
        let Some((k, v)) = f.split_once('=') else {
            return fail(format!("bad format of filter (expected name=value): {f}"));
        };
        let e = m.entry(k.to_string()).or_insert(json!({}));
        e[v] = json!(true);
    }
    Ok(Value::Object(m).to_string())
}

fn ls(c: &Client, a: LsArgs) -> Result<()> {
    let mut path = "/networks".to_string();
    if !a.filter.is_empty() {
        path += &format!("?filters={}", enc(&filters_json(&a.filter)?));
    }
    let mut list = c.get_json(&path)?.as_array().cloned().unwrap_or_default();
    list.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    let id = |n: &Value| -> String {
        let id = n["Id"].as_str().unwrap_or("");
        if a.no_trunc {
            id.to_string()
        } else {
            id.chars().take(12).collect()
        }
    };
    if a.quiet && a.format.is_none() {
        return out(&list.iter().map(|n| id(n) + "\n").collect::<String>());
    }
    let default = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
    let t = Template::parse(a.format.as_deref().unwrap_or(default), default).map_err(Fail)?;
    let mut s = String::new();
    if t.is_table() {
        s += &t.header(&[
            ("ID", "NETWORK ID"),
            ("Name", "NAME"),
            ("Driver", "DRIVER"),
            ("Scope", "SCOPE"),
            ("IPv6", "IPV6"),
            ("Internal", "INTERNAL"),
            ("CreatedAt", "CREATED AT"),
            ("Labels", "LABELS"),
        ]);
        s.push('\n');
    }
    for n in &list {
        let labels = n["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let v = json!({
            "ID": id(n), "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
            "IPv6": n["EnableIPv6"], "Internal": n["Internal"], "CreatedAt": n["Created"],
            "Labels": labels,
        });
        s += &t.render(&v).map_err(Fail)?;
        s.push('\n');
    }
    if t.is_table() {
        s = format::tabwrite(&s);
    }
    out(&s)
}

fn inspect(c: &Client, a: InspectArgs) -> Result<()> {
    let tmpl = match &a.format {
        Some(f) => Some(Template::parse(f, f).map_err(Fail)?),
        None => None,
    };
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for n in &a.networks {
        match c.request("GET", &format!("/networks/{}", enc(n)), None) {
            Ok(mut r) => {
                let mut s = String::new();
                r.read_to_string(&mut s)
                    .map_err(|e| Fail(format!("error reading response: {e}")))?;
                raws.push(s);
            }
            Err(e) if e.0.starts_with("Cannot connect") => return Err(e),
            Err(e) => errors.push(e.0),
        }
    }
    crate::commands::print_inspected(&raws, tmpl.as_ref(), &errors)
}

fn rm(c: &Client, a: RmArgs) -> Result<()> {
    let mut failed = false;
    for n in &a.networks {
        match c.request("DELETE", &format!("/networks/{}", enc(n)), None) {
            Ok(mut r) => {
                let _ = std::io::copy(&mut r, &mut std::io::sink());
                out(&format!("{n}\n"))?;
            }
            Err(e) if e.0.starts_with("Cannot connect") => return Err(e),
            Err(e) if a.force && e.0.contains("not found") => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(Fail(String::new()));
    }
    Ok(())
}

fn prune(c: &Client, a: PruneArgs) -> Result<()> {
    if !a.force {
        if !crate::commands::confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        ) {
            return Ok(());
        }
    }
    let mut path = "/networks/prune".to_string();
    if !a.filter.is_empty() {
        path += &format!("?filters={}", enc(&filters_json(&a.filter)?));
    }
    let r = c.post_json(&path, &json!({}))?;
    let names: Vec<&str> = r["NetworksDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    if !names.is_empty() {
        out(&format!("Deleted Networks:\n{}\n", names.join("\n")))?;
    }
    Ok(())
}

fn connect(c: &Client, a: ConnectArgs) -> Result<()> {
    let mut ep = json!({"Aliases": a.alias});
    if let Some(ip) = &a.ip {
        ep["IPAMConfig"] = json!({"IPv4Address": ip});
    }
    let body = json!({"Container": a.container, "EndpointConfig": ep});
    c.post_json(&format!("/networks/{}/connect", enc(&a.network)), &body)?;
    Ok(())
}

fn disconnect(c: &Client, a: DisconnectArgs) -> Result<()> {
    let body = json!({"Container": a.container, "Force": a.force});
    c.post_json(&format!("/networks/{}/disconnect", enc(&a.network)), &body)?;
    Ok(())
}

/// `tug port CONTAINER [PRIVATE_PORT[/PROTO]]`, as docker prints it.
pub fn port(host: Option<&str>, a: PortArgs) -> i32 {
    super::images::run(host, |c| {
        let v = c.get_json(&format!("/containers/{}/json", enc(&a.container)))?;
        let ports = v["NetworkSettings"]["Ports"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let want = a.port.as_ref().map(|p| {
            if p.contains('/') {
                p.clone()
            } else {
                format!("{p}/tcp")
            }
        });
        let mut s = String::new();
        let mut keys: Vec<&String> = ports.keys().collect();
        keys.sort_by_key(|k| {
            let (p, proto) = k.split_once('/').unwrap_or((k, ""));
            (p.parse::<u32>().unwrap_or(0), proto.to_string())
        });
        for k in keys {
            if want.as_ref().is_some_and(|w| w != k) {
                continue;
            }
            for b in ports[k].as_array().into_iter().flatten() {
                let ip = match b["HostIp"].as_str().unwrap_or("") {
                    "" => "0.0.0.0",
                    ip => ip,
                };
                let hp = b["HostPort"].as_str().unwrap_or("");
                if want.is_some() {
                    s += &format!("{ip}:{hp}\n");
                } else {
                    s += &format!("{k} -> {ip}:{hp}\n");
                }
            }
        }
        if s.is_empty() {
            if let Some(w) = want {
                return fail(format!(
                    "Error: No public port '{w}' published for {}",
                    a.container
                ));
            }
        }
        out(&s)
    })
}
