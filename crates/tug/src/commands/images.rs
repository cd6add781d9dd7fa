//! Image verbs (`images`, `pull`, `push`, `tag`, `rmi`, `history`, `save`, `load`, `import`,
//! `image …`): docker's flags and output over the daemon's Engine API.

use crate::client::{enc, fail, Client, Fail, Result};
use crate::commands::{out, short_id};
use crate::format::{self, Template};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::io::{Read, Write};

#[derive(Args)]
pub struct ImagesArgs {
    /// Only this repository (and tag)
    repository: Option<String>,
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Filter output based on conditions provided (dangling, reference, label)
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a Go template
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct PullArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    name: String,
}

#[derive(Args)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    name: String,
}

#[derive(Args)]
pub struct TagArgs {
    source: String,
    target: String,
}

#[derive(Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    no_prune: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a Go template
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    human: bool,
    /// Format output using a Go template
    #[arg(long)]
    format: Option<String>,
    image: String,
}

#[derive(Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    input: Option<std::path::PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// A tar file, or - for STDIN
    file: String,
    repository: Option<String>,
}

#[derive(Args)]
pub struct ImageCli {
    #[command(subcommand)]
    verb: ImageVerb,
}

#[derive(Subcommand)]
enum ImageVerb {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Remove one or more images
    #[command(alias = "remove", alias = "rmi")]
    Rm(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Save one or more images to a tar archive
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Remove unused images
    Prune(PruneArgs),
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    filter: Vec<String>,
}

/// `image prune`: docker's prompt, `POST /images/prune`, docker's report.
pub fn prune(c: &Client, a: PruneArgs) -> Result<()> {
    let mut filters: std::collections::BTreeMap<String, std::collections::BTreeMap<String, bool>> =
        Default::default();
    for f in &a.filter {
        let (k, v) = match f.split_once("!=") {
            Some((k, v)) => (format!("{k}!"), v),
            None => match f.split_once('=') {
                Some((k, v)) => (k.to_string(), v),
                None => return fail(format!("bad format of filter (expected name=value)")),
            },
        };
        filters.entry(k).or_default().insert(v.to_string(), true);
    }
    filters
        .entry("dangling".into())
        .or_default()
        .insert((!a.all).to_string(), true);
    if !a.force {
        let warning = if a.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        if !crate::commands::confirm(warning) {
            return Ok(());
        }
    }
    let fjson = serde_json::to_string(&filters).unwrap_or_default();
    let v = c
        .request(
            "POST",
            &format!("/images/prune?filters={}", enc(&fjson)),
            None,
        )?
        .json()?;
    let mut s = String::new();
    let deleted = v["ImagesDeleted"].as_array().cloned().unwrap_or_default();
    if !deleted.is_empty() {
        s.push_str("Deleted Images:\n");
        for d in &deleted {
            if let Some(u) = d["Untagged"].as_str() {
                s.push_str(&format!("untagged: {u}\n"));
            }
            if let Some(x) = d["Deleted"].as_str() {
                s.push_str(&format!("deleted: {x}\n"));
            }
        }
        s.push('\n');
    }
    let space = v["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    s.push_str(&format!(
        "Total reclaimed space: {}\n",
        format::human_size4(space)
    ));
    out(&s)
}

/// Run one verb; print its failure and return the exit code.
pub fn run(host: Option<&str>, f: impl FnOnce(&Client) -> Result<()>) -> i32 {
    let r = Client::from_host(host).and_then(|c| f(&c));
    let _ = std::io::stdout().flush();
    match r {
        Ok(()) => 0,
        Err(Fail(m)) if m.is_empty() => 1,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

pub fn image(host: Option<&str>, a: ImageCli) -> i32 {
    match a.verb {
        ImageVerb::Ls(a) => run(host, |c| images(c, a)),
        ImageVerb::Pull(a) => run(host, |c| pull(c, host, a)),
        ImageVerb::Push(a) => run(host, |c| push(c, host, a)),
        ImageVerb::Prune(a) => run(host, |c| prune(c, a)),
        ImageVerb::Rm(a) => run(host, |c| rmi(c, a)),
        ImageVerb::Tag(a) => run(host, |c| tag(c, a)),
        ImageVerb::Save(a) => run(host, |c| save(c, a)),
        ImageVerb::Load(a) => run(host, |c| load(c, a)),
        ImageVerb::Import(a) => run(host, |c| import(c, a)),
        ImageVerb::History(a) => run(host, |c| history(c, a)),
        ImageVerb::Inspect(a) => run(host, |c| inspect(c, a)),
    }
}

fn isatty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Split `name[:tag][@digest]` into (repository, tag-or-digest).
fn split_ref(r: &str) -> (String, Option<String>) {
    if let Some((n, d)) = r.split_once('@') {
        return (n.to_string(), Some(d.to_string()));
    }
    match r.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n.to_string(), Some(t.to_string())),
        _ => (r.to_string(), None),
    }
}

/// docker's fully-qualified form: `docker.io/library/busybox:latest`.
fn full_ref(r: &str) -> String {
    let (name, tag) = split_ref(r);
    let first = name.split('/').next().unwrap_or("");
    let name = if name.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        name
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    match tag {
        Some(t) if t.contains(':') && t.starts_with("sha256") => format!("{name}@{t}"),
        Some(t) => format!("{name}:{t}"),
        None => format!("{name}:latest"),
    }
}

/// `docker.io/library/x` → `x`, `docker.io/u/x` → `u/x`.
fn familiar(name: &str) -> String {
    let n = name.strip_prefix("docker.io/").unwrap_or(name);
    n.strip_prefix("library/").unwrap_or(n).to_string()
}

/// Go's `path.Match` for `*`, `?` (no `/` crossing) and literal characters.
fn glob(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') => (0..=s.len())
            .take_while(|&i| i == 0 || s[i - 1] != '/')
            .any(|i| glob(&p[1..], &s[i..])),
        Some('?') => !s.is_empty() && s[0] != '/' && glob(&p[1..], &s[1..]),
        Some(c) => s.first() == Some(c) && glob(&p[1..], &s[1..]),
    }
}

fn matches_ref(pattern: &str, repo: &str, tag: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let r: Vec<char> = repo.chars().collect();
    let rt: Vec<char> = format!("{repo}:{tag}").chars().collect();
    glob(&p, &r) || glob(&p, &rt)
}

struct Row {
    repo: String,
    tag: String,
    digest: String,
    img: Value,
}

pub fn images(c: &Client, a: ImagesArgs) -> Result<()> {
    let _ = a.all; // tug keeps no intermediate images
    let mut filters: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in &a.filter {
        let Some((k, v)) = f.split_once('=') else {
            return fail(format!("bad format of filter (expected name=value)"));
        };
        if !matches!(
            k,
            "dangling" | "reference" | "label" | "before" | "since" | "until"
        ) {
            return fail(format!("Error response from daemon: invalid filter '{k}'"));
        }
        filters
            .entry(k.to_string())
            .or_default()
            .push(v.to_string());
    }
    if let Some(r) = &a.repository {
        filters
            .entry("reference".into())
            .or_default()
            .push(r.clone());
    }
    let fjson = serde_json::to_string(&filters).unwrap_or_default();
    let list = c.get_json(&format!("/images/json?filters={}", enc(&fjson)))?;
    let mut list = list.as_array().cloned().unwrap_or_default();
    list.sort_by_key(|i| std::cmp::Reverse(i["Created"].as_i64().unwrap_or(0)));
    let str_list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut rows = Vec::new();
    for img in &list {
        let tags: Vec<String> = str_list(&img["RepoTags"])
            .into_iter()
            .filter(|t| t != "<none>:<none>")
            .collect();
        let digests: Vec<String> = str_list(&img["RepoDigests"])
            .into_iter()
            .filter(|t| t != "<none>@<none>")
            .collect();
        let dangling = tags.is_empty();
        if let Some(d) = filters.get("dangling") {
            if d.iter().any(|v| (v == "true" || v == "1") != dangling) {
                continue;
            }
        }
        if let Some(ls) = filters.get("label") {
            let labels = &img["Labels"];
            let ok = ls.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => labels[k].as_str() == Some(v),
                None => labels.get(l).is_some(),
            });
            if !ok {
                continue;
            }
        }
        let mut mine: Vec<(String, String, String)> = Vec::new();
        if dangling {
            let d = digests
                .first()
                .and_then(|d| d.split_once('@'))
                .map(|(_, d)| d.to_string())
                .unwrap_or_else(|| "<none>".into());
            mine.push(("<none>".into(), "<none>".into(), d));
        } else {
            let mut repos: Vec<(String, Vec<String>)> = Vec::new();
            for t in &tags {
                let (r, tg) = split_ref(t);
                let r = familiar(&r);
                let tg = tg.unwrap_or_else(|| "latest".into());
                match repos.iter_mut().find(|(n, _)| *n == r) {
                    Some((_, v)) => v.push(tg),
                    None => repos.push((r, vec![tg])),
                }
            }
            let mut rdigests: Vec<(String, String)> = digests
                .iter()
                .filter_map(|d| d.split_once('@'))
                .map(|(r, d)| (familiar(r), d.to_string()))
                .collect();
            for (repo, ts) in &repos {
                let ds: Vec<String> = rdigests
                    .iter()
                    .filter(|(r, _)| r == repo)
                    .map(|(_, d)| d.clone())
                    .collect();
                rdigests.retain(|(r, _)| r != repo);
                for t in ts {
                    if !a.digests || ds.is_empty() {
                        mine.push((repo.clone(), t.clone(), "<none>".into()));
                    } else {
                        for d in &ds {
                            mine.push((repo.clone(), t.clone(), d.clone()));
                        }
                    }
                }
            }
            for (repo, d) in rdigests {
                mine.push((repo, "<none>".into(), d));
            }
        }
        if let Some(refs) = filters.get("reference") {
            mine.retain(|(r, t, _)| refs.iter().any(|p| matches_ref(p, r, t)));
            if mine.is_empty() {
                continue;
            }
        }
        for (repo, tag, digest) in mine {
            rows.push(Row {
                repo,
                tag,
                digest,
                img: img.clone(),
            });
        }
    }
    if a.quiet && a.format.is_none() {
        let mut s = String::new();
        for r in &rows {
            let id = r.img["Id"].as_str().unwrap_or("");
            s.push_str(&if a.no_trunc {
                id.to_string()
            } else {
                short_id(id)
            });
            s.push('\n');
        }
        return out(&s);
    }
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let t = Template::parse(a.format.as_deref().unwrap_or(default), default).map_err(Fail)?;
    let values: Vec<Value> = rows
        .iter()
        .map(|r| {
            let id = r.img["Id"].as_str().unwrap_or("");
            let created = r.img["Created"].as_i64().unwrap_or(0);
            let size = format::human_size(r.img["Size"].as_f64().unwrap_or(0.0));
            json!({
                "Containers": "N/A",
                "CreatedAt": format::go_time(created),
                "CreatedSince": format::since(created),
                "Digest": r.digest,
                "ID": if a.no_trunc { id.to_string() } else { short_id(id) },
                "Repository": r.repo,
                "SharedSize": "N/A",
                "Size": size,
                "Tag": r.tag,
                "UniqueSize": "N/A",
                "VirtualSize": format::human_size4(r.img["VirtualSize"].as_f64().unwrap_or(0.0)),
            })
        })
        .collect();
    render(
        &t,
        &values,
        &[
            ("Repository", "REPOSITORY"),
            ("Tag", "TAG"),
            ("Digest", "DIGEST"),
            ("ID", "IMAGE ID"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
            ("Size", "SIZE"),
            ("SharedSize", "SHARED SIZE"),
            ("UniqueSize", "UNIQUE SIZE"),
            ("VirtualSize", "VIRTUAL SIZE"),
            ("Containers", "CONTAINERS"),
        ],
    )
}

fn render(t: &Template, values: &[Value], headers: &[(&str, &str)]) -> Result<()> {
    let mut s = String::new();
    if t.is_table() {
        s.push_str(&t.header(headers));
        s.push('\n');
    }
    for v in values {
        s.push_str(&t.render(v).map_err(Fail)?);
        s.push('\n');
    }
    if t.is_table() {
        s = format::tabwrite(&s);
    }
    out(&s)
}

/// docker's jsonmessage display: plain lines off a terminal (progress bars dropped),
/// redrawn per-layer lines on one. Returns the stream's error, if any.
fn display(msgs: impl Iterator<Item = Result<Value>>, quiet: bool) -> Result<Vec<Value>> {
    let tty = !quiet && isatty(1);
    let mut ids: Vec<String> = Vec::new();
    let mut o = std::io::stdout().lock();
    let mut aux = Vec::new();
    for m in msgs {
        let m = m?;
        if let Some(e) = m["error"].as_str() {
            let _ = o.flush();
            return Err(Fail(e.to_string()));
        }
        if let Some(e) = m["errorDetail"]["message"].as_str() {
            return Err(Fail(e.to_string()));
        }
        if !m["aux"].is_null() {
            aux.push(m["aux"].clone());
            continue;
        }
        if quiet {
            continue;
        }
        let id = m["id"].as_str().unwrap_or("");
        let status = m["status"].as_str().unwrap_or("");
        let detail = m.get("progressDetail");
        let bar = detail.map(progress_bar).unwrap_or_default();
        let mut s = String::new();
        let mut diff = 0;
        if !id.is_empty() && detail.is_some() {
            let line = match ids.iter().position(|i| i == id) {
                Some(l) => l,
                None => {
                    ids.push(id.to_string());
                    if tty {
                        s.push('\n');
                    }
                    ids.len() - 1
                }
            };
            diff = ids.len() - line;
            if tty {
                s.push_str(&format!("\x1b[{diff}A"));
            }
        } else {
            ids.clear();
        }
        let mut endl = "\n";
        if tty && m.get("stream").is_none() && detail.is_some() {
            s.push_str("\x1b[2K\r");
            endl = "\r";
        } else if detail.is_some() && !bar.is_empty() {
            continue; // no progress bars off a terminal
        }
        if !id.is_empty() {
            s.push_str(&format!("{id}: "));
        }
        if let Some(st) = m["stream"].as_str() {
            s.push_str(st);
            if endl == "\r" {
                s.push('\r');
            }
        } else if tty && detail.is_some() {
            s.push_str(&format!("{status} {bar}{endl}"));
        } else {
            s.push_str(&format!("{status}{endl}"));
        }
        if !id.is_empty() && tty && diff > 0 {
            s.push_str(&format!("\x1b[{diff}B"));
        }
        let _ = o.write_all(s.as_bytes());
        let _ = o.flush();
    }
    Ok(aux)
}

fn progress_bar(d: &Value) -> String {
    let (Some(cur), Some(total)) = (d["current"].as_f64(), d["total"].as_f64()) else {
        return String::new();
    };
    if total <= 0.0 {
        return format!("{:>8}", format::human_size(cur));
    }
    let pct = (cur / total * 100.0).clamp(0.0, 100.0);
    let n = (pct / 2.0) as usize;
    let bar = if n >= 50 {
        format!("[{}]", "=".repeat(50))
    } else {
        format!("[{}>{}]", "=".repeat(n), " ".repeat(49 - n))
    };
    format!(
        "{bar} {:>8}/{}",
        format::human_size(cur),
        format::human_size(total)
    )
}

pub fn pull(c: &Client, host: Option<&str>, a: PullArgs) -> Result<()> {
    let (name, tag) = split_ref(&a.name);
    let tag = tag.unwrap_or_else(|| "latest".into());
    let mut path = format!("/images/create?fromImage={}&tag={}", enc(&name), enc(&tag));
    if let Some(p) = &a.platform {
        path.push_str(&format!("&platform={}", enc(p)));
    }
    match super::login::auth_header_for(&a.name)? {
        Some(h) => {
            let headers = [("X-Registry-Auth", h)];
            let r = super::login::request(host, "POST", &path, &headers, None)?;
            display(super::login::messages(r), a.quiet)?;
        }
        None => {
            display(c.request("POST", &path, None)?.messages(), a.quiet)?;
        }
    }
    let shown = if tag.starts_with("sha256:") {
        full_ref(&format!("{name}@{tag}"))
    } else {
        full_ref(&format!("{name}:{tag}"))
    };
    out(&format!("{shown}\n"))
}

pub fn push(c: &Client, host: Option<&str>, a: PushArgs) -> Result<()> {
    let (name, tag) = split_ref(&a.name);
    let mut path = format!("/images/{name}/push");
    if let Some(t) = tag {
        path.push_str(&format!("?tag={}", enc(&t)));
    }
    match super::login::auth_header_for(&a.name)? {
        Some(h) => {
            let headers = [("X-Registry-Auth", h)];
            let r = super::login::request(host, "POST", &path, &headers, None)?;
            display(super::login::messages(r), a.quiet)?;
        }
        None => {
            display(c.request("POST", &path, None)?.messages(), a.quiet)?;
        }
    }
    if a.quiet {
        out(&format!("{}\n", full_ref(&a.name)))?;
    }
    Ok(())
}

pub fn tag(c: &Client, a: TagArgs) -> Result<()> {
    let (repo, tag) = split_ref(&a.target);
    let mut path = format!("/images/{}/tag?repo={}", a.source, enc(&repo));
    if let Some(t) = tag {
        path.push_str(&format!("&tag={}", enc(&t)));
    }
    c.request("POST", &path, None)?;
    Ok(())
}

pub fn rmi(c: &Client, a: RmiArgs) -> Result<()> {
    let mut failed = false;
    for img in &a.images {
        let path = format!(
            "/images/{img}?force={}&noprune={}",
            if a.force { "1" } else { "0" },
            if a.no_prune { "1" } else { "0" }
        );
        match c.request("DELETE", &path, None).and_then(|r| r.json()) {
            Ok(v) => {
                let mut s = String::new();
                for item in v.as_array().into_iter().flatten() {
                    if let Some(u) = item["Untagged"].as_str() {
                        s.push_str(&format!("Untagged: {u}\n"));
                    }
                    if let Some(d) = item["Deleted"].as_str() {
                        s.push_str(&format!("Deleted: {d}\n"));
                    }
                }
                out(&s)?;
            }
            Err(e) => {
                if e.0.starts_with("Cannot connect") {
                    return Err(e);
                }
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

pub fn inspect(c: &Client, a: InspectArgs) -> Result<()> {
    let tmpl = match &a.format {
        Some(f) => Some(Template::parse(f, f).map_err(Fail)?),
        None => None,
    };
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for img in &a.images {
        match c.request("GET", &format!("/images/{img}/json"), None) {
            Ok(mut r) => {
                let mut s = String::new();
                r.read_to_string(&mut s)
                    .map_err(|e| Fail(format!("error reading response: {e}")))?;
                raws.push(s);
            }
            Err(e) if e.0.starts_with("Cannot connect") => return Err(e),
            Err(e) if e.0.contains("No such image") => {
                errors.push(format!("Error: No such image: {img}"))
            }
            Err(e) => errors.push(e.0),
        }
    }
    crate::commands::print_inspected(&raws, tmpl.as_ref(), &errors)
}

pub fn history(c: &Client, a: HistoryArgs) -> Result<()> {
    let h = c.get_json(&format!("/images/{}/history", a.image))?;
    let h = h.as_array().cloned().unwrap_or_default();
    if a.quiet && a.format.is_none() {
        let mut s = String::new();
        for e in &h {
            let id = e["Id"].as_str().unwrap_or("");
            s.push_str(&if a.no_trunc {
                id.to_string()
            } else {
                short_id(id)
            });
            s.push('\n');
        }
        return out(&s);
    }
    let default = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
    let t = Template::parse(a.format.as_deref().unwrap_or(default), default).map_err(Fail)?;
    let values: Vec<Value> = h
        .iter()
        .map(|e| {
            let id = e["Id"].as_str().unwrap_or("");
            let created = e["Created"].as_i64().unwrap_or(0);
            let by = e["CreatedBy"].as_str().unwrap_or("").replace('\t', " ");
            let by = if !a.no_trunc && by.chars().count() > 45 {
                by.chars().take(44).collect::<String>() + "…"
            } else {
                by
            };
            let size = e["Size"].as_i64().unwrap_or(0);
            json!({
                "ID": if a.no_trunc || id == "<missing>" { id.to_string() } else { short_id(id) },
                "CreatedSince": if a.human { format::since(created) } else { format::rfc3339(created) },
                "CreatedAt": format::rfc3339(created),
                "CreatedBy": by,
                "Size": if a.human { format::human_size(size as f64) } else { size.to_string() },
                "Comment": e["Comment"].as_str().unwrap_or(""),
            })
        })
        .collect();
    render(
        &t,
        &values,
        &[
            ("ID", "IMAGE"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
            ("CreatedBy", "CREATED BY"),
            ("Size", "SIZE"),
            ("Comment", "COMMENT"),
        ],
    )
}

pub fn save(c: &Client, a: SaveArgs) -> Result<()> {
    if a.output.is_none() && isatty(1) {
        return fail("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let names: Vec<String> = a
        .images
        .iter()
        .map(|n| format!("names={}", enc(n)))
        .collect();
    let mut r = c.request("GET", &format!("/images/get?{}", names.join("&")), None)?;
    let copy = |w: &mut dyn Write, r: &mut crate::client::Response| {
        std::io::copy(r, w).map_err(|e| Fail(format!("error saving image: {e}")))
    };
    match &a.output {
        Some(p) => {
            // Written beside the target and renamed, so a failure leaves no partial file.
            let tmp = p.with_file_name(format!(
                ".{}.tug-tmp",
                p.file_name()
                    .map(|f| f.to_string_lossy())
                    .unwrap_or_default()
            ));
            let mut f = std::fs::File::create(&tmp)
                .map_err(|e| Fail(format!("failed to save image: {e}")))?;
            let res = copy(&mut f, &mut r);
            if let Err(e) = res {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, p).map_err(|e| Fail(format!("failed to save image: {e}")))?;
        }
        None => {
            let mut o = std::io::stdout().lock();
            copy(&mut o, &mut r)?;
            let _ = o.flush();
        }
    }
    Ok(())
}

fn open_input(path: Option<&std::path::Path>) -> Result<Box<dyn Read>> {
    match path {
        Some(p) if p.as_os_str() != "-" => std::fs::File::open(p)
            .map(|f| Box::new(f) as Box<dyn Read>)
            .map_err(|e| Fail(format!("open {}: {e}", p.display()))),
        _ => Ok(Box::new(std::io::stdin())),
    }
}

pub fn load(c: &Client, a: LoadArgs) -> Result<()> {
    if a.input.is_none() && isatty(0) {
        return fail("requested load from stdin, but stdin is empty");
    }
    let mut input = open_input(a.input.as_deref())?;
    let path = format!("/images/load?quiet={}", if a.quiet { "1" } else { "0" });
    let r = c.request("POST", &path, Some(&mut *input))?;
    // `-q` still prints the "Loaded image" lines (docker drops only progress).
    display(r.messages(), false)?;
    Ok(())
}

pub fn import(c: &Client, a: ImportArgs) -> Result<()> {
    let mut path = String::from("/images/create?fromSrc=-");
    if let Some(r) = &a.repository {
        path.push_str(&format!("&repo={}", enc(r)));
    }
    for ch in &a.change {
        path.push_str(&format!("&changes={}", enc(ch)));
    }
    if let Some(m) = &a.message {
        path.push_str(&format!("&message={}", enc(m)));
    }
    if let Some(p) = &a.platform {
        path.push_str(&format!("&platform={}", enc(p)));
    }
    let file = (a.file != "-").then(|| std::path::PathBuf::from(&a.file));
    let mut input = open_input(file.as_deref())?;
    let r = c.request("POST", &path, Some(&mut *input))?;
    display(r.messages(), false)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(full_ref("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full_ref("u/x:1"), "docker.io/u/x:1");
        assert_eq!(
            full_ref("127.0.0.1:5000/tug/bb:v1"),
            "127.0.0.1:5000/tug/bb:v1"
        );
        assert_eq!(
            split_ref("127.0.0.1:5000/tug/bb"),
            ("127.0.0.1:5000/tug/bb".into(), None)
        );
        assert!(matches_ref("tug/*", "tug/bb", "v1"));
        assert!(matches_ref("tug/bb:v*", "tug/bb", "v1"));
        assert!(!matches_ref("*", "tug/bb", "v1"));
    }
}
