//! `ps`, `logs`, `inspect`, `top` and `stats`: what docker prints for them.

use super::{fatal, out, seg, short_id};
use crate::client::{enc, fail, hijack, Client, Fail, Result};
use crate::format::{self, Template};
use clap::Args;
use serde_json::{json, Map, Value};
use std::io::{Read, Write};

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go template)
    #[arg(long)]
    format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, default_value_t = -1, allow_hyphen_values = true)]
    last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    latest: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
}

#[derive(Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    details: bool,
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    until: Option<String>,
    container: String,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    size: bool,
    /// Only inspect objects of the given type
    #[arg(long = "type")]
    kind: Option<String>,
    #[arg(required = true, value_name = "NAME|ID")]
    names: Vec<String>,
}

#[derive(Args)]
pub struct TopArgs {
    container: String,
    /// ps options
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

#[derive(Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    no_trunc: bool,
    containers: Vec<String>,
}

/// `--filter k=v` flags → docker's filters JSON (`{"k": {"v": true}}`).
fn filters_json(list: &[String]) -> Result<Option<String>> {
    let mut m: Map<String, Value> = Map::new();
    for f in list {
        let Some((k, v)) = f.split_once('=') else {
            return fail(format!("bad format of filter (expected name=value)"));
        };
        let e = m.entry(k.trim().to_lowercase()).or_insert(json!({}));
        e[v] = json!(true);
    }
    Ok((!m.is_empty()).then(|| Value::Object(m).to_string()))
}

/// docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    s.chars().take(max.saturating_sub(1)).collect::<String>() + "…"
}

/// Go's `strconv.Quote` for the printable text ps shows.
fn quote(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\x{:02x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// docker's port list: `0.0.0.0:8080->80/tcp, 443/tcp`.
fn ports_text(ports: &Value) -> String {
    let mut v: Vec<String> = Vec::new();
    for p in ports.as_array().into_iter().flatten() {
        let private = p["PrivatePort"].as_u64().unwrap_or(0);
        let kind = p["Type"].as_str().unwrap_or("tcp");
        let s = match (p["IP"].as_str(), p["PublicPort"].as_u64()) {
            (Some(ip), Some(public)) if public > 0 => {
                let ip = if ip.contains(':') {
                    format!("[{ip}]")
                } else {
                    ip.to_string()
                };
                format!("{ip}:{public}->{private}/{kind}")
            }
            _ => format!("{private}/{kind}"),
        };
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v.join(", ")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The fields docker's container formatter offers, for one `GET /containers/json` entry.
fn ps_row(c: &Value, trunc: bool) -> Value {
    let id = c["Id"].as_str().unwrap_or("");
    let mut image = c["Image"].as_str().unwrap_or("").to_string();
    if trunc {
        if image.starts_with("sha256:") {
            image = short_id(&image);
        } else if let Some((n, _)) = image.split_once('@') {
            image = n.to_string();
        }
    }
    let names: Vec<String> = strings(&c["Names"])
        .iter()
        .map(|n| n.trim_start_matches('/').to_string())
        .filter(|n| !trunc || !n.contains('/'))
        .collect();
    let command = c["Command"].as_str().unwrap_or("");
    let command = if trunc {
        ellipsis(command, 20)
    } else {
        command.to_string()
    };
    let created = c["Created"].as_i64().unwrap_or(0);
    let mut labels: Vec<String> = c["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    let mounts: Vec<String> = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let n = m["Name"].as_str().filter(|n| !n.is_empty());
            let n = n.unwrap_or_else(|| m["Source"].as_str().unwrap_or(""));
            if trunc {
                ellipsis(n, 15)
            } else {
                n.to_string()
            }
        })
        .collect();
    let local_volumes = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Driver"] == "local")
        .count();
    let mut networks: Vec<String> = c["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let srw = c["SizeRw"].as_f64().unwrap_or(0.0);
    let sv = c["SizeRootFs"].as_f64().unwrap_or(0.0);
    let size = if sv > 0.0 {
        format!(
            "{} (virtual {})",
            format::human_size(srw),
            format::human_size(sv)
        )
    } else {
        format::human_size(srw)
    };
    json!({
        "Command": quote(&command),
        "CreatedAt": format::go_time(created),
        "ID": if trunc { short_id(id) } else { id.to_string() },
        "Image": image,
        "Labels": labels.join(","),
        "LocalVolumes": local_volumes.to_string(),
        "Mounts": mounts.join(","),
        "Names": names.join(","),
        "Networks": networks.join(","),
        "Platform": null,
        "Ports": ports_text(&c["Ports"]),
        "RunningFor": format::since(created),
        "Size": size,
        "State": c["State"].as_str().unwrap_or(""),
        "Status": c["Status"].as_str().unwrap_or(""),
    })
}

const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Platform", "PLATFORM"),
];

/// Render `values` with `t` (a table gets its header and docker's column padding).
pub fn render(t: &Template, values: &[Value], headers: &[(&str, &str)]) -> Result<()> {
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

/// `--format json` is docker's shorthand for `{{json .}}`.
fn template(f: Option<&str>, default: &str) -> Result<Template> {
    let f = match f {
        Some("json") => "{{json .}}",
        Some(f) => f,
        None => default,
    };
    Template::parse(f, default).map_err(Fail)
}

pub fn ps(c: &Client, a: PsArgs) -> Result<()> {
    let mut q = Vec::new();
    let limit = if a.latest { 1 } else { a.last };
    if a.all || limit > 0 {
        q.push("all=1".to_string());
    }
    if limit > 0 {
        q.push(format!("limit={limit}"));
    }
    // As docker: a template that uses the size (or renders the whole row) asks for it.
    let wants_size = a.size
        || a.format.as_deref().is_some_and(|f| {
            f.contains(".Size") || f == "json" || f.replace(' ', "").contains("{{json.}}")
        });
    if wants_size {
        q.push("size=1".into());
    }
    if let Some(f) = filters_json(&a.filter)? {
        q.push(format!("filters={}", enc(&f)));
    }
    let list = c.get_json(&format!("/containers/json?{}", q.join("&")))?;
    let list = list.as_array().cloned().unwrap_or_default();
    let trunc = !a.no_trunc;
    if a.quiet && a.format.is_none() {
        let mut s = String::new();
        for ct in &list {
            let id = ct["Id"].as_str().unwrap_or("");
            s.push_str(&if trunc { short_id(id) } else { id.to_string() });
            s.push('\n');
        }
        return out(&s);
    }
    let mut default = String::from(
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
    );
    if a.size {
        default.push_str("\t{{.Size}}");
    }
    let fmt = if a.quiet {
        Some("{{.ID}}")
    } else {
        a.format.as_deref()
    };
    let t = template(fmt, &default)?;
    let rows: Vec<Value> = list.iter().map(|ct| ps_row(ct, trunc)).collect();
    render(&t, &rows, PS_HEADERS)
}

/// docker's `GetTimestamp`: a duration before now, RFC 3339 (or a date), or unix seconds →
/// the `seconds[.nanos]` form the API takes.
pub fn timestamp(v: &str, now: f64) -> Result<String> {
    if let Ok(d) = super::opts::duration_ns(v) {
        let t = now - d as f64 / 1e9;
        return Ok(format!("{t:.9}"));
    }
    if v.chars().all(|c| c.is_ascii_digit() || c == '.') && !v.is_empty() {
        return Ok(v.to_string());
    }
    // 2006-01-02[T15:04:05[.frac]][Z|±hh:mm]
    let b = v.as_bytes();
    let num = |a: usize, z: usize| -> Option<i64> { v.get(a..z)?.parse().ok() };
    let bad = || {
        Fail(format!(
            "invalid value for \"since\"/\"until\": {v:?} is not a valid time"
        ))
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (y, mo, d) = (num(0, 4), num(5, 7), num(8, 10));
    let (Some(y), Some(mo), Some(d)) = (y, mo, d) else {
        return Err(bad());
    };
    let (mut hh, mut mm, mut ss, mut frac, mut off) = (0, 0, 0, 0.0, 0i64);
    if b.len() > 10 {
        if b[10] != b'T' || b.len() < 16 {
            return Err(bad());
        }
        hh = num(11, 13).ok_or_else(bad)?;
        mm = num(14, 16).ok_or_else(bad)?;
        let mut rest = &v[16..];
        if let Some(r) = rest.strip_prefix(':') {
            ss = r.get(0..2).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            rest = &r[2..];
        }
        if let Some(r) = rest.strip_prefix('.') {
            let n = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            frac = format!("0.{}", &r[..n]).parse().unwrap_or(0.0);
            rest = &r[n..];
        }
        if let Some(sign) = rest.chars().next().filter(|c| *c == '+' || *c == '-') {
            let h: i64 = rest
                .get(1..3)
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)?;
            let m: i64 = rest.get(4..6).and_then(|s| s.parse().ok()).unwrap_or(0);
            off = (h * 3600 + m * 60) * if sign == '+' { 1 } else { -1 };
        }
    }
    let days = days_from_civil(y, mo, d);
    let t = days * 86400 + hh * 3600 + mm * 60 + ss - off;
    Ok(format!("{}.{:09}", t, (frac * 1e9) as i64))
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub fn logs(c: &Client, a: LogsArgs) -> Result<()> {
    let info = c.get_json(&format!("/containers/{}/json", seg(&a.container)))?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let id = info["Id"].as_str().unwrap_or(&a.container).to_string();
    let mut q = vec!["stdout=1".to_string(), "stderr=1".to_string()];
    let now = now_f64();
    if let Some(s) = &a.since {
        q.push(format!("since={}", enc(&timestamp(s, now)?)));
    }
    if let Some(u) = &a.until {
        q.push(format!("until={}", enc(&timestamp(u, now)?)));
    }
    if a.timestamps {
        q.push("timestamps=1".into());
    }
    if a.follow {
        q.push("follow=1".into());
    }
    if a.details {
        q.push("details=1".into());
    }
    q.push(format!("tail={}", enc(&a.tail)));
    let mut r = c.request(
        "GET",
        &format!("/containers/{id}/logs?{}", q.join("&")),
        None,
    )?;
    if tty {
        let mut buf = [0u8; 32 * 1024];
        let mut o = std::io::stdout();
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = o.write_all(&buf[..n]);
                    let _ = o.flush();
                }
            }
        }
        return Ok(());
    }
    hijack::demux(r, true, true).map_err(|e| Fail(format!("error reading logs: {e}")))
}

pub fn inspect(c: &Client, a: InspectArgs, grouped: bool) -> Result<()> {
    let kind = match (a.kind.as_deref(), grouped) {
        (_, true) => Some("container"),
        (None | Some(""), _) => None,
        (Some(k @ ("container" | "image")), _) => Some(k),
        (Some(k), _) => return fail(format!("\"{k}\" is not a valid value for --type")),
    };
    let tmpl = match &a.format {
        Some(f) if f == "json" => None,
        Some(f) => Some(Template::parse(f, f).map_err(Fail)?),
        None => None,
    };
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        let mut found = None;
        let mut last_err = None;
        if kind != Some("image") {
            let size = if a.size { "?size=1" } else { "" };
            match c.request("GET", &format!("/containers/{}/json{size}", seg(n)), None) {
                Ok(r) => found = Some(r),
                Err(e) if fatal(&e) => return Err(e),
                Err(e) => last_err = Some(e),
            }
        }
        if found.is_none() && kind != Some("container") {
            match c.request("GET", &format!("/images/{n}/json"), None) {
                Ok(r) => found = Some(r),
                Err(e) if fatal(&e) => return Err(e),
                Err(e) => last_err = Some(e),
            }
        }
        match found {
            Some(mut r) => {
                let mut s = String::new();
                r.read_to_string(&mut s)
                    .map_err(|e| Fail(format!("error reading response: {e}")))?;
                raws.push(s);
            }
            None if kind.is_none() => errors.push(format!("Error: No such object: {n}")),
            None => errors.push(last_err.map(|e| e.0).unwrap_or_default()),
        }
    }
    crate::commands::print_inspected(&raws, tmpl.as_ref(), &errors)
}

pub fn top(c: &Client, a: TopArgs) -> Result<()> {
    let mut path = format!("/containers/{}/top", seg(&a.container));
    if !a.ps_args.is_empty() {
        path.push_str(&format!("?ps_args={}", enc(&a.ps_args.join(" "))));
    }
    let v = c.get_json(&path)?;
    let mut s = strings(&v["Titles"]).join("\t");
    s.push('\n');
    for p in v["Processes"].as_array().into_iter().flatten() {
        s.push_str(&strings(p).join("\t"));
        s.push('\n');
    }
    out(&format::tabwrite_with(&s, 20, 3))
}

/// One `docker stats` row from a stats object.
fn stats_row(v: &Value, name_arg: &str, trunc: bool) -> Value {
    let id = v["id"].as_str().unwrap_or("");
    let name = v["name"].as_str().unwrap_or("").trim_start_matches('/');
    let cpu = &v["cpu_stats"];
    let pre = &v["precpu_stats"];
    let f = |x: &Value| x.as_f64().unwrap_or(0.0);
    let cpu_delta = f(&cpu["cpu_usage"]["total_usage"]) - f(&pre["cpu_usage"]["total_usage"]);
    let sys_delta = f(&cpu["system_cpu_usage"]) - f(&pre["system_cpu_usage"]);
    let mut online = f(&cpu["online_cpus"]);
    if online == 0.0 {
        online = cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(0, |a| a.len()) as f64;
    }
    let cpu_pct = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let m = &v["memory_stats"];
    let mut mem = f(&m["usage"]);
    let inactive = m["stats"]["total_inactive_file"]
        .as_f64()
        .or_else(|| m["stats"]["inactive_file"].as_f64());
    if let Some(i) = inactive {
        if i < mem {
            mem -= i;
        }
    }
    let limit = f(&m["limit"]);
    let mem_pct = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in v["networks"].as_object().into_iter().flatten() {
        rx += f(&n.1["rx_bytes"]);
        tx += f(&n.1["tx_bytes"]);
    }
    let (mut br, mut bw) = (0.0, 0.0);
    for e in v["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"].as_str().map(|s| s.to_ascii_lowercase()).as_deref() {
            Some("read") => br += f(&e["value"]),
            Some("write") => bw += f(&e["value"]),
            _ => {}
        }
    }
    let pids = v["pids_stats"]["current"].as_u64().unwrap_or(0);
    let shown_id = if trunc { short_id(id) } else { id.to_string() };
    let running = v["read"].as_str().is_some_and(|r| !r.starts_with("0001"));
    if !running {
        return json!({
            "Container": name_arg, "ID": shown_id, "Name": name,
            "CPUPerc": "0.00%", "MemUsage": "0B / 0B", "MemPerc": "0.00%",
            "NetIO": "0B / 0B", "BlockIO": "0B / 0B", "PIDs": "0",
        });
    }
    json!({
        "Container": name_arg,
        "ID": shown_id,
        "Name": name,
        "CPUPerc": format!("{cpu_pct:.2}%"),
        "MemUsage": format!("{} / {}", format::bytes_size(mem), format::bytes_size(limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", format::human_size(rx), format::human_size(tx)),
        "BlockIO": format!("{} / {}", format::human_size(br), format::human_size(bw)),
        "PIDs": pids.to_string(),
    })
}

const STATS_HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

pub fn stats(c: &Client, a: StatsArgs) -> Result<()> {
    let default = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
    let t = template(a.format.as_deref(), default)?;
    let targets: Vec<(String, String)> = if a.containers.is_empty() {
        let list = c.get_json(&format!(
            "/containers/json{}",
            if a.all { "?all=1" } else { "" }
        ))?;
        list.as_array()
            .into_iter()
            .flatten()
            .map(|ct| {
                let id = ct["Id"].as_str().unwrap_or("").to_string();
                (id.clone(), short_id(&id))
            })
            .collect()
    } else {
        // Unknown names fail up front, as docker's do.
        for n in &a.containers {
            c.get_json(&format!("/containers/{}/json", seg(n)))?;
        }
        a.containers
            .iter()
            .map(|n| (n.clone(), n.clone()))
            .collect()
    };
    let trunc = !a.no_trunc;
    loop {
        let handles: Vec<_> = targets
            .iter()
            .map(|(key, shown)| {
                let c = c.clone();
                let key = key.clone();
                let shown = shown.clone();
                std::thread::spawn(move || {
                    c.get_json(&format!("/containers/{}/stats?stream=0", seg(&key)))
                        .map(|v| stats_row(&v, &shown, trunc))
                })
            })
            .collect();
        let mut rows = Vec::new();
        for h in handles {
            match h.join() {
                Ok(Ok(r)) => rows.push(r),
                Ok(Err(e)) if fatal(&e) => return Err(e),
                _ => {}
            }
        }
        if !a.no_stream {
            out("\x1b[2J\x1b[H")?;
        }
        render(&t, &rows, STATS_HEADERS)?;
        if a.no_stream {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_helpers() {
        assert_eq!(ellipsis("sleep 1000", 20), "sleep 1000");
        assert_eq!(
            ellipsis("sh -c 'while true; do x; done'", 20),
            "sh -c 'while true; …"
        );
        assert_eq!(quote("a \"b\""), "\"a \\\"b\\\"\"");
        let p = json!([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                       {"PrivatePort": 443, "Type": "tcp"}]);
        assert_eq!(ports_text(&p), "0.0.0.0:8080->80/tcp, 443/tcp");
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp("1700000000", 0.0).unwrap(), "1700000000");
        assert_eq!(
            timestamp("2023-11-14T22:13:20Z", 0.0).unwrap(),
            "1700000000.000000000"
        );
        assert_eq!(
            timestamp("2023-11-14T23:13:20+01:00", 0.0).unwrap(),
            "1700000000.000000000"
        );
        assert_eq!(timestamp("10m", 1000.0).unwrap(), "400.000000000");
        assert!(timestamp("yesterday", 0.0).is_err());
    }
}
