//! `tug volume create|ls|inspect|rm|prune`: docker's flags and output over the Engine API.

use crate::client::{enc, fail, Client, Fail, Result};
use crate::commands::out;
use crate::format::{self, Template};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;

#[derive(Args)]
pub struct VolumeCli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

#[derive(Args)]
struct CreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short, long)]
    opt: Vec<String>,
    /// Specify volume name
    #[arg(long = "name", hide = true)]
    name_flag: Option<String>,
    name: Option<String>,
}

#[derive(Args)]
struct LsArgs {
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
    /// Provide filter values (e.g. "dangling=true")
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
    volumes: Vec<String>,
}

#[derive(Args)]
struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    volumes: Vec<String>,
}

#[derive(Args)]
struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long)]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn main(host: Option<&str>, a: VolumeCli) -> i32 {
    super::images::run(host, |c| match a.verb {
        Verb::Create(a) => create(c, a),
        Verb::Ls(a) => ls(c, a),
        Verb::Inspect(a) => inspect(c, a),
        Verb::Rm(a) => rm(c, a),
        Verb::Prune(a) => prune(c, a),
    })
}

fn key_values(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect()
}

fn create(c: &Client, a: CreateArgs) -> Result<()> {
    let name = match (a.name, a.name_flag) {
        (Some(n), Some(f)) if n != f => {
            return fail(format!(
                "conflicting options: either specify --name or provide positional arg, not both"
            ))
        }
        (n, f) => n.or(f).unwrap_or_default(),
    };
    let body = json!({
        "Name": name, "Driver": a.driver,
        "DriverOpts": key_values(&a.opt), "Labels": key_values(&a.label),
    });
    let v = c.request_json("POST", "/volumes/create", &body)?.json()?;
    out(&format!("{}\n", v["Name"].as_str().unwrap_or("")))
}

/// `-f key=value` flags as the API's filters JSON.
fn filters_json(list: &[String], extra: &[(&str, &str)]) -> Result<String> {
    let mut f: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for kv in list {
        let (k, v) = match kv.split_once("!=") {
            Some((k, v)) => (format!("{k}!"), v),
            None => match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v),
                None => return fail(format!("bad format of filter (expected name=value)")),
            },
        };
        f.entry(k).or_default().insert(v.to_string(), true);
    }
    for (k, v) in extra {
        f.entry(k.to_string())
            .or_default()
            .insert(v.to_string(), true);
    }
    Ok(serde_json::to_string(&f).unwrap_or_default())
}

fn ls(c: &Client, a: LsArgs) -> Result<()> {
    for f in &a.filter {
        let k = f.split_once('=').map_or(f.as_str(), |(k, _)| k);
        if !matches!(k, "dangling" | "driver" | "label" | "name") {
            return fail(format!("Error response from daemon: invalid filter '{k}'"));
        }
    }
    let fj = filters_json(&a.filter, &[])?;
    let v = c.get_json(&format!("/volumes?filters={}", enc(&fj)))?;
    let list = v["Volumes"].as_array().cloned().unwrap_or_default();
    let default = if a.quiet {
        "{{.Name}}"
    } else {
        "table {{.Driver}}\t{{.Name}}"
    };
    let t = Template::parse(
        a.format.as_deref().unwrap_or(default),
        "table {{.Driver}}\t{{.Name}}",
    )
    .map_err(Fail)?;
    let mut s = String::new();
    if t.is_table() {
        s.push_str(&t.header(&[
            ("Driver", "DRIVER"),
            ("Name", "VOLUME NAME"),
            ("Mountpoint", "MOUNTPOINT"),
            ("Labels", "LABELS"),
            ("Scope", "SCOPE"),
        ]));
        s.push('\n');
    }
    for vol in &list {
        let mut row = vol.clone();
        if let Some(l) = vol["Labels"].as_object() {
            let text: Vec<String> = l
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            row["Labels"] = Value::String(text.join(","));
        }
        s.push_str(&t.render(&row).map_err(|e| Fail(format!("template: {e}")))?);
        s.push('\n');
    }
    out(&if t.is_table() {
        format::tabwrite(&s)
    } else {
        s
    })
}

fn inspect(c: &Client, a: InspectArgs) -> Result<()> {
    let tmpl = match &a.format {
        Some(f) => Some(Template::parse(f, f).map_err(Fail)?),
        None => None,
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &a.volumes {
        match c.request("GET", &format!("/volumes/{}", enc(name)), None) {
            Ok(mut r) => {
                let mut s = String::new();
                r.read_to_string(&mut s)
                    .map_err(|e| Fail(format!("error reading response: {e}")))?;
                found.push(s);
            }
            Err(e) if e.0.starts_with("Cannot connect") => return Err(e),
            Err(e) => errors.push(e.0.replacen("Error response from daemon: ", "Error: ", 1)),
        }
    }
    crate::commands::print_inspected(&found, tmpl.as_ref(), &errors)
}

fn rm(c: &Client, a: RmArgs) -> Result<()> {
    let mut errors = Vec::new();
    for name in &a.volumes {
        let q = if a.force { "?force=1" } else { "" };
        match c.request("DELETE", &format!("/volumes/{}{q}", enc(name)), None) {
            Ok(mut r) => {
                let _ = std::io::copy(&mut r, &mut std::io::sink());
                out(&format!("{name}\n"))?;
            }
            Err(e) if e.0.starts_with("Cannot connect") => return Err(e),
            Err(e) => errors.push(e.0),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        fail(errors.join("\n"))
    }
}

fn prune(c: &Client, a: PruneArgs) -> Result<()> {
    if !a.force {
        let warning = if a.all {
            "WARNING! This will remove all local volumes not used by at least one container."
        } else {
            "WARNING! This will remove anonymous local volumes not used by at least one container."
        };
        if !crate::commands::confirm(warning) {
            return Ok(());
        }
    }
    let extra: &[(&str, &str)] = if a.all { &[("all", "true")] } else { &[] };
    let fj = filters_json(&a.filter, extra)?;
    let v = c
        .request(
            "POST",
            &format!("/volumes/prune?filters={}", enc(&fj)),
            None,
        )?
        .json()?;
    let mut s = String::new();
    let deleted = v["VolumesDeleted"].as_array().cloned().unwrap_or_default();
    if !deleted.is_empty() {
        s.push_str("Deleted Volumes:\n");
        for d in &deleted {
            s.push_str(d.as_str().unwrap_or(""));
            s.push('\n');
        }
        s.push('\n');
    }
    let freed = v["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    s.push_str(&format!(
        "Total reclaimed space: {}\n",
        format::human_size(freed)
    ));
    out(&s)
}
