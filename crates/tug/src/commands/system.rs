//! `tug system df|prune|info` and `tug container prune`: disk usage and getting it back, with
//! docker's output.

use crate::client::{enc, fail, Client, Result};
use crate::commands::container::{go, out, short_id};
use crate::format::{human_size, human_size4, since, tabwrite};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Args)]
pub struct SystemCli {
    #[command(subcommand)]
    verb: SystemVerb,
}

#[derive(Subcommand)]
enum SystemVerb {
    /// Show docker disk usage
    Df(DfArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
}

#[derive(Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long)]
    filter: Vec<String>,
}

#[derive(Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    filter: Vec<String>,
}

pub fn main(host: Option<&str>, a: SystemCli) -> i32 {
    match a.verb {
        SystemVerb::Df(a) => go(host, |c| df(c, a).map(|_| 0)),
        SystemVerb::Prune(a) => go(host, |c| system_prune(c, a).map(|_| 0)),
    }
}

pub fn container_prune_main(host: Option<&str>, a: ContainerPruneArgs) -> i32 {
    go(host, |c| container_prune(c, a).map(|_| 0))
}

/// `key=value` / `key!=value` flags as the API's filters JSON.
fn filters_json(flags: &[String]) -> Result<String> {
    let mut f: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for s in flags {
        let (k, v) = match s.split_once("!=") {
            Some((k, v)) => (format!("{k}!"), v),
            None => match s.split_once('=') {
                Some((k, v)) => (k.to_string(), v),
                None => return fail(format!("bad format of filter (expected name=value)")),
            },
        };
        f.entry(k).or_default().insert(v.to_string(), true);
    }
    Ok(serde_json::to_string(&f).unwrap_or_default())
}

fn prune_call(c: &Client, what: &str, filters: &str) -> Result<Value> {
    c.request(
        "POST",
        &format!("/{what}/prune?filters={}", enc(filters)),
        None,
    )?
    .json()
}

/// "Deleted X:\n<names>\n\n" when anything was deleted.
fn section(title: &str, names: &[Value]) -> String {
    if names.is_empty() {
        return String::new();
    }
    let mut s = format!("Deleted {title}:\n");
    for n in names {
        s.push_str(n.as_str().unwrap_or_default());
        s.push('\n');
    }
    s.push('\n');
    s
}

fn list(v: &Value, key: &str) -> Vec<Value> {
    v[key].as_array().cloned().unwrap_or_default()
}

pub fn container_prune(c: &Client, a: ContainerPruneArgs) -> Result<()> {
    let f = filters_json(&a.filter)?;
    if !a.force && !crate::commands::confirm("WARNING! This will remove all stopped containers.") {
        return Ok(());
    }
    let v = prune_call(c, "containers", &f)?;
    let space = v["SpaceReclaimed"].as_u64().unwrap_or(0);
    out(&format!(
        "{}Total reclaimed space: {}\n",
        section("Containers", &list(&v, "ContainersDeleted")),
        human_size4(space as f64)
    ))
}

pub fn system_prune(c: &Client, a: SystemPruneArgs) -> Result<()> {
    let f = filters_json(&a.filter)?;
    if !a.force {
        let mut w = String::from(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
        );
        if a.volumes {
            w.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        w.push_str(if a.all {
            "  - all images without at least one container associated to them\n"
        } else {
            "  - all dangling images\n"
        });
        w.push_str("  - unused build cache\n");
        if !crate::commands::confirm(&w) {
            return Ok(());
        }
    }
    let mut text = String::new();
    let mut space = 0u64;
    let v = prune_call(c, "containers", &f)?;
    space += v["SpaceReclaimed"].as_u64().unwrap_or(0);
    text.push_str(&section("Containers", &list(&v, "ContainersDeleted")));
    let v = prune_call(c, "networks", &f)?;
    text.push_str(&section("Networks", &list(&v, "NetworksDeleted")));
    if a.volumes {
        let v = prune_call(c, "volumes", &f)?;
        space += v["SpaceReclaimed"].as_u64().unwrap_or(0);
        text.push_str(&section("Volumes", &list(&v, "VolumesDeleted")));
    }
    let mut img: serde_json::Map<String, Value> = serde_json::from_str(&f).unwrap_or_default();
    img.insert(
        "dangling".into(),
        serde_json::json!({ (!a.all).to_string(): true }),
    );
    let v = prune_call(c, "images", &Value::Object(img).to_string())?;
    space += v["SpaceReclaimed"].as_u64().unwrap_or(0);
    let deleted = list(&v, "ImagesDeleted");
    if !deleted.is_empty() {
        text.push_str("Deleted Images:\n");
        for d in &deleted {
            if let Some(u) = d["Untagged"].as_str() {
                text.push_str(&format!("untagged: {u}\n"));
            }
            if let Some(x) = d["Deleted"].as_str() {
                text.push_str(&format!("deleted: {x}\n"));
            }
        }
        text.push('\n');
    }
    out(&format!(
        "{text}Total reclaimed space: {}\n",
        human_size4(space as f64)
    ))
}

fn u(v: &Value) -> u64 {
    v.as_i64().unwrap_or(0).max(0) as u64
}

/// "SIZE (PCT%)" as docker shows reclaimable space.
fn reclaim(amount: u64, total: u64) -> String {
    if total == 0 {
        return human_size4(amount as f64);
    }
    format!("{} ({}%)", human_size4(amount as f64), amount * 100 / total)
}

fn active_container(c: &Value) -> bool {
    let s = c["State"].as_str().unwrap_or_default();
    s.contains("running") || s == "paused" || s == "restarting"
}

pub fn df(c: &Client, a: DfArgs) -> Result<()> {
    let v = c.get_json("/system/df")?;
    let images = list(&v, "Images");
    let conts = list(&v, "Containers");
    let vols = list(&v, "Volumes");
    let cache = list(&v, "BuildCache");
    if a.verbose {
        return out(&verbose(&images, &conts, &vols, &cache));
    }
    let layers = u(&v["LayersSize"]);
    let used: u64 = images
        .iter()
        .filter(|i| u(&i["Containers"]) > 0)
        .map(|i| u(&i["Size"]).saturating_sub(u(&i["SharedSize"])))
        .sum();
    let c_size: u64 = conts.iter().map(|c| u(&c["SizeRw"])).sum();
    let c_free: u64 = conts
        .iter()
        .filter(|c| !active_container(c))
        .map(|c| u(&c["SizeRw"]))
        .sum();
    let v_size: u64 = vols.iter().map(|v| u(&v["UsageData"]["Size"])).sum();
    let v_free: u64 = vols
        .iter()
        .filter(|v| u(&v["UsageData"]["RefCount"]) == 0)
        .map(|v| u(&v["UsageData"]["Size"]))
        .sum();
    let b_size: u64 = cache.iter().map(|b| u(&b["Size"])).sum();
    let rows = [
        (
            "Images",
            images.len(),
            images.iter().filter(|i| u(&i["Containers"]) > 0).count(),
            layers,
            reclaim(layers.saturating_sub(used), layers),
        ),
        (
            "Containers",
            conts.len(),
            conts.iter().filter(|c| active_container(c)).count(),
            c_size,
            reclaim(c_free, c_size),
        ),
        (
            "Local Volumes",
            vols.len(),
            vols.iter()
                .filter(|v| u(&v["UsageData"]["RefCount"]) > 0)
                .count(),
            v_size,
            reclaim(v_free, v_size),
        ),
        (
            "Build Cache",
            cache.len(),
            cache.iter().filter(|b| b["InUse"] == true).count(),
            b_size,
            human_size4(b_size as f64),
        ),
    ];
    let mut t = String::from("TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE\n");
    for (name, total, active, size, free) in rows {
        t.push_str(&format!(
            "{name}\t{total}\t{active}\t{}\t{free}\n",
            human_size4(size as f64)
        ));
    }
    out(&tabwrite(&t))
}

fn verbose(images: &[Value], conts: &[Value], vols: &[Value], cache: &[Value]) -> String {
    let mut s = String::from("Images space usage:\n\n");
    let mut t = String::from(
        "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS\n",
    );
    for i in images {
        let tags: Vec<String> = i["RepoTags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        let tags = if tags.is_empty() {
            vec!["<none>:<none>".to_string()]
        } else {
            tags
        };
        let (size, shared) = (u(&i["Size"]), u(&i["SharedSize"]));
        for tag in tags {
            let (repo, t_) = match tag.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                _ => (tag.clone(), "<none>".into()),
            };
            t.push_str(&format!(
                "{repo}\t{t_}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                short_id(i["Id"].as_str().unwrap_or_default()),
                since(i["Created"].as_i64().unwrap_or(0)),
                human_size(size as f64),
                human_size(shared as f64),
                human_size(size.saturating_sub(shared) as f64),
                u(&i["Containers"])
            ));
        }
    }
    s.push_str(&tabwrite(&t));
    s.push_str("\nContainers space usage:\n\n");
    let mut t =
        String::from("CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES\n");
    for c in conts {
        let vols = c["Mounts"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| m["Type"] == "volume").count());
        let name = c["Names"][0]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('/');
        t.push_str(&format!(
            "{}\t{}\t\"{}\"\t{vols}\t{}\t{}\t{}\t{name}\n",
            short_id(c["Id"].as_str().unwrap_or_default()),
            c["Image"].as_str().unwrap_or_default(),
            c["Command"].as_str().unwrap_or_default(),
            human_size(u(&c["SizeRw"]) as f64),
            since(c["Created"].as_i64().unwrap_or(0)),
            c["Status"].as_str().unwrap_or_default(),
        ));
    }
    s.push_str(&tabwrite(&t));
    s.push_str("\nLocal Volumes space usage:\n\n");
    let mut t = String::from("VOLUME NAME\tLINKS\tSIZE\n");
    for v in vols {
        t.push_str(&format!(
            "{}\t{}\t{}\n",
            v["Name"].as_str().unwrap_or_default(),
            u(&v["UsageData"]["RefCount"]),
            human_size4(u(&v["UsageData"]["Size"]) as f64)
        ));
    }
    s.push_str(&tabwrite(&t));
    let b: u64 = cache.iter().map(|b| u(&b["Size"])).sum();
    s.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        human_size4(b as f64)
    ));
    s.push_str(&tabwrite(
        "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n",
    ));
    s
}
